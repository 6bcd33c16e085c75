# mmdeploy deploy config: a detector to one onnxruntime model with its post-processing, any
# batch size and input size (a multiple of 32).
_base_ = ['./detection_onnxruntime_static.py']
onnx_config = dict(
    input_shape=None,
    dynamic_axes=dict(
        input=dict({0: 'batch', 2: 'height', 3: 'width'}),
        dets=dict({0: 'batch', 1: 'num_dets'}),
        labels=dict({0: 'batch', 1: 'num_dets'})))
