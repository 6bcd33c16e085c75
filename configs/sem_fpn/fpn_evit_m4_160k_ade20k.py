# Semantic FPN + EfficientViT-M4, ADE20K.
# Levels: EfficientViTFPN gives 4 levels of 256 channels at strides 4..32: the
# stride-16/32/64 stages through an FPN whose stride-64 level only feeds the
# top-down path (num_top_down_only_levels=1), two transposed convs for 8 and 4.
# Schedule and pipeline: mmseg's fpn_r50_4xb4-160k_ade20k-512x512.py (SGD lr 0.01, poly,
# 160k iterations, 512x512 crops, total batch 16; 80k is its Cityscapes schedule).
# Not trained here: no ADE20K result measured with mmevit.
_base_ = [
    '../_base_/models/semantic_fpn.py',
    '../_base_/datasets/ade20k.py',
    '../_base_/schedules/sgd_poly_160k.py',
    '../_base_/seg_runtime.py',
]
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        type='EfficientViTM',
        arch='m4',
        out_indices=(0, 1, 2),
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/'
            'releases/download/v1.0/efficientvit_m4.pth'))),
    neck=dict(type='EfficientViTFPN', in_channels=[128, 256, 384], out_channels=256,
              num_extra_trans_convs=2, num_top_down_only_levels=1, num_outs=4))
