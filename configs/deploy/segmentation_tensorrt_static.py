# mmdeploy deploy config: a segmentor to a TensorRT engine (fp32), 512x512 input. Needs a GPU
# machine with TensorRT (and mmdeploy's TensorRT ops built for it: README "Deployment"); not
# run here (no GPU).
_base_ = ['./segmentation_onnxruntime_static.py']
backend_config = dict(
    type='tensorrt',
    common_config=dict(fp16_mode=False, max_workspace_size=1 << 30),
    model_inputs=[dict(input_shapes=dict(input=dict(
        min_shape=[1, 3, 512, 512], opt_shape=[1, 3, 512, 512], max_shape=[1, 3, 512, 512])))])
