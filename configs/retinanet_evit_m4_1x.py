# RetinaNet + EfficientViT-M4, COCO 1x.
# Published: AP 32.7 / AP50 52.2 / AP75 34.1 (Liu et al., CVPR 2023).
# The authors' trained detector loads as it is (README: "Evaluate the authors' COCO detectors").
_base_ = [
    './_base_/models/retinanet_evit_fpn.py', './_base_/datasets/coco_detection.py',
    './_base_/schedules/adamw_1x.py', './_base_/det_runtime.py'
]
