# DINO 4-scale + EfficientViT-B1, COCO.
# Levels: mmdet's ChannelMapper on the stride-8/16/32 stages plus a stride-2
# conv for stride 64, as on ResNet.
# Otherwise as dino-4scale_evit_m4_12e_coco.py (schedule and pipeline).
# Not trained here: no COCO result measured with mmevit.
_base_ = './dino-4scale_evit_m4_12e_coco.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='EfficientViTB',
        arch='b1',
        out_indices=(1, 2, 3),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
            'efficientvit_b1_r224.pt'))),
    neck=dict(_delete_=True, type='ChannelMapper', in_channels=[64, 128, 256],
              kernel_size=1, out_channels=256, act_cfg=None,
              norm_cfg=dict(type='GN', num_groups=32), num_outs=4))
