# Semantic FPN + EfficientViT-B1, ADE20K.
# Levels: mmseg's FPN on the four stages (strides 4..32), as on ResNet.
# Otherwise as fpn_evit_m4_160k_ade20k.py (schedule and pipeline).
# Not trained here: no ADE20K result measured with mmevit.
_base_ = './fpn_evit_m4_160k_ade20k.py'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='EfficientViTB',
        arch='b1',
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
            'efficientvit_b1_r224.pt'))),
    neck=dict(_delete_=True, type='FPN', in_channels=[32, 64, 128, 256], out_channels=256,
              num_outs=4))
