# mmdeploy deploy config: a detector to one onnxruntime model with its post-processing
# (anchor decoding, NMS: outputs dets N x 100 x 5 and labels N x 100), fixed input size.
# python tools/deployment/deploy.py configs/deploy/detection_onnxruntime_static.py \
#     MODEL_CONFIG CHECKPOINT IMAGE --work-dir DIR
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['dets', 'labels'],
    input_shape=[1344, 800],  # width, height: COCO's 1333x800 padded to a multiple of 32
    optimize=True)
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    # the configs' test_cfg: score 0.05, NMS IoU 0.5, 100 detections
    post_processing=dict(score_threshold=0.05, confidence_threshold=0.005, iou_threshold=0.5,
                         max_output_boxes_per_class=200, pre_top_k=5000, keep_top_k=100,
                         background_label_id=-1))
backend_config = dict(type='onnxruntime')
