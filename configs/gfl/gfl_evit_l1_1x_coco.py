# GFL + EfficientViT-L1, COCO.
# Levels: mmdet's FPN on the stride-8/16/32 stages plus two stride-2 convs on
# its stride-32 output (strides 8..128), as on ResNet.
# Otherwise as gfl_evit_m4_1x_coco.py (schedule and pipeline).
# Not trained here: no COCO result measured with mmevit.
_base_ = './gfl_evit_m4_1x_coco.py'
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
    neck=dict(_delete_=True, type='FPN', in_channels=[128, 256, 512], out_channels=256,
              add_extra_convs='on_output', num_outs=5))
