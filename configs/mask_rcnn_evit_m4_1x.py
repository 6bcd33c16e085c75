# Mask R-CNN + EfficientViT-M4, COCO 1x.
# Published: mask AP 31.0 / AP50 51.2 / AP75 32.2 (Liu et al., CVPR 2023).
# The authors' trained detector loads as it is (README: "Evaluate the authors' COCO detectors").
_base_ = [
    './_base_/models/mask_rcnn_evit_fpn.py', './_base_/datasets/coco_instance.py',
    './_base_/schedules/adamw_1x.py', './_base_/det_runtime.py'
]
