# ATSS + EfficientViT-M4, COCO.
# Levels: EfficientViTFPN, the stride-16/32/64 stages through an FPN plus one
# transposed conv for stride 8 and one stride-2 conv on the stride-64 output for
# stride 128 (strides 8..128, as mmdet's FPN on ResNet's stride-8..32 stages).
# Schedule and pipeline: mmdet's atss_r50_fpn_1x_coco.py
# (SGD lr 0.01, 12 epochs).
# Not trained here: no COCO result measured with mmevit.
_base_ = [
    '../_base_/models/atss.py',
    '../_base_/datasets/coco_detection.py',
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
              num_extra_trans_convs=1, add_extra_convs='on_output', num_outs=5))
optim_wrapper = dict(optimizer=dict(lr=0.01))  # mmdet's ATSS 1x
