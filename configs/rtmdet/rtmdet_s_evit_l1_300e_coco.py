# RTMDet-s + EfficientViT-L1, COCO.
# Levels: mmdet's CSPNeXtPAFPN on the stride-8/16/32 stages.
# Otherwise as rtmdet_s_evit_m4_300e_coco.py (schedule and pipeline).
# Not trained here: no COCO result measured with mmevit.
_base_ = './rtmdet_s_evit_m4_300e_coco.py'
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
    neck=dict(_delete_=True, type='CSPNeXtPAFPN', in_channels=[128, 256, 512],
              out_channels=128, num_csp_blocks=1, expand_ratio=0.5,
              norm_cfg=dict(type='SyncBN'), act_cfg=dict(type='SiLU', inplace=True)))
