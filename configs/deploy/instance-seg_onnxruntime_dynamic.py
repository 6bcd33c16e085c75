# mmdeploy deploy config: an instance segmentation detector (Mask R-CNN) to one onnxruntime
# model with its post-processing (dets, labels, and per-detection 28x28 mask logits; pasting
# them into the image happens outside the graph), any batch size and input size.
_base_ = ['./detection_onnxruntime_dynamic.py']
onnx_config = dict(
    output_names=['dets', 'labels', 'masks'],
    dynamic_axes=dict(masks=dict({0: 'batch', 1: 'num_dets', 2: 'height', 3: 'width'})))
codebase_config = dict(post_processing=dict(export_postprocess_mask=False))
