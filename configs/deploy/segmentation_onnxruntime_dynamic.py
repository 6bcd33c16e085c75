# mmdeploy deploy config: a segmentor to one onnxruntime model, any batch size and input size.
_base_ = ['./segmentation_onnxruntime_static.py']
onnx_config = dict(
    input_shape=None,
    dynamic_axes=dict(
        input=dict({0: 'batch', 2: 'height', 3: 'width'}),
        output=dict({0: 'batch', 2: 'height', 3: 'width'})))
