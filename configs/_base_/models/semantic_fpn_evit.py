# Semantic FPN on EfficientViT-M4: two transposed convs bring the stride-16 level to stride 4.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))  # the dataset's crop size
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='EfficientViTM',
        arch='m4',
        out_indices=(0, 1, 2),
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/'
            'releases/download/v1.0/efficientvit_m4.pth'))),
    neck=dict(
        type='EfficientViTFPN',
        in_channels=[128, 256, 384],
        out_channels=256,
        num_extra_trans_convs=2,
        num_outs=5),
    decode_head=dict(
        type='FPNHead',
        in_channels=[256, 256, 256, 256],
        in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32],
        channels=128,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
