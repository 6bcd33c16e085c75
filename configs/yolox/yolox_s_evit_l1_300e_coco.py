# YOLOX-s + EfficientViT-L1, COCO.
# Levels: mmdet's YOLOXPAFPN on the stride-8/16/32 stages.
# Otherwise as yolox_s_evit_m4_300e_coco.py (schedule and pipeline).
# Not trained here: no COCO result measured with mmevit.
_base_ = './yolox_s_evit_m4_300e_coco.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='EfficientViTL',
        arch='l1',
        out_indices=(1, 2, 3),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
            'efficientvit_l1_r224.pt'))),
    neck=dict(_delete_=True, type='YOLOXPAFPN', in_channels=[128, 256, 512],
              out_channels=128, num_csp_blocks=1, use_depthwise=False,
              upsample_cfg=dict(scale_factor=2, mode='nearest'),
              norm_cfg=dict(type='BN', momentum=0.03, eps=0.001), act_cfg=dict(type='Swish')))
