# Cascade Mask R-CNN + EfficientViT-M4, COCO.
# Levels: EfficientViTFPN, the stride-16/32/64 stages through an FPN plus two
# transposed convs for strides 8 and 4 (strides 4..64, as mmdet's FPN on ResNet).
# Schedule and pipeline: mmdet's cascade-mask-rcnn_r50_fpn_1x_coco.py
# (SGD lr 0.02, 12 epochs, total batch 16).
# Not trained here: no COCO result measured with mmevit.
_base_ = [
    '../_base_/models/cascade_mask_rcnn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/sgd_1x.py',
    '../_base_/det_runtime.py',
]
model = dict(
    backbone=dict(
        type='EfficientViTM',
        arch='m4',
        out_indices=(0, 1, 2),
        norm_eval=True,  # ImageNet BatchNorm statistics kept, as mmdet does for ResNets
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/'
            'releases/download/v1.0/efficientvit_m4.pth'))),
    neck=dict(type='EfficientViTFPN', in_channels=[128, 256, 384], out_channels=256,
              num_extra_trans_convs=2, num_outs=5))
