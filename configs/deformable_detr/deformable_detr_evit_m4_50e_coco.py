# Deformable DETR + EfficientViT-M4, COCO.
# Levels: EfficientViTFPN (in place of mmdet's ChannelMapper) gives the 4 levels
# of 256 channels at strides 8..64: one transposed conv for stride 8, the
# stride-16/32/64 stages through the FPN.
# Schedule and pipeline: mmdet's deformable-detr_r50_16xb2-50e_coco.py (AdamW lr 2e-4,
# 50 epochs, total batch 32).
# Not trained here: no COCO result measured with mmevit.
_base_ = [
    '../_base_/models/deformable_detr.py',
    '../_base_/datasets/coco_detection_detr.py',
    '../_base_/schedules/deformable_detr_50e.py',
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
              num_extra_trans_convs=1, num_outs=4))
