# SegFormer head + EfficientViT-L1, ADE20K.
# Levels: the four stages (strides 4..32) straight into the head, as MiT's.
# Otherwise as segformer_evit_m4_160k_ade20k.py (schedule and pipeline).
# Not trained here: no ADE20K result measured with mmevit.
_base_ = './segformer_evit_m4_160k_ade20k.py'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='EfficientViTL',
        arch='l1',
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
            'efficientvit_l1_r224.pt'))),
    neck=None,
    decode_head=dict(in_channels=[64, 128, 256, 512]))
