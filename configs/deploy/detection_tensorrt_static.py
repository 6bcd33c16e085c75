# mmdeploy deploy config: a detector to a TensorRT engine (fp32) with its post-processing
# (mmdeploy's TensorRT NMS plugin), 800x1344 input. Needs a GPU machine with TensorRT and
# mmdeploy's TensorRT ops built for it (its 1.3.1 wheel's are for TensorRT 8 / CUDA 11: README
# "Deployment"); not run here (no GPU): the onnxruntime configs are the tested ones.
_base_ = ['./detection_onnxruntime_static.py']
backend_config = dict(
    type='tensorrt',
    common_config=dict(fp16_mode=False, max_workspace_size=1 << 30),
    model_inputs=[dict(input_shapes=dict(input=dict(
        min_shape=[1, 3, 800, 1344], opt_shape=[1, 3, 800, 1344], max_shape=[1, 3, 800, 1344])))])
