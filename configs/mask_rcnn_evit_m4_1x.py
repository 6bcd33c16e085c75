# Mask R-CNN + EfficientViT-M4, COCO 1x.
# Published: mask AP 31.0 (Liu et al., CVPR 2023).
_base_ = [
    './_base_/models/mask_rcnn_evit_fpn.py', './_base_/datasets/coco_instance.py',
    './_base_/schedules/adamw_1x.py', './_base_/det_runtime.py'
]
