# EfficientViT-B + the authors' segmentation head: stage 4/3/2 merged at stride 8.
# Variants override backbone.arch, decode_head.in_channels/channels/depth/final_expand.
# BatchNorm statistics synchronised over the GPUs, as mmseg's configs have them; single-process
# runs (and mmevit.apis.build_model) turn SyncBN into plain BN.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='EfficientViTB',
        arch='b1',
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        # The authors' ImageNet weights, downloaded and cached on first use (a local path or
        # timm's weights work too).
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
            'efficientvit_b1_r224.pt'))),
    decode_head=dict(
        type='EfficientViTSegHead',
        in_channels=[256, 128, 64],
        in_index=[3, 2, 1],
        channels=64,
        depth=3,
        expand_ratio=4,
        final_expand=4,
        num_classes=19,
        norm_cfg=norm_cfg,
        dropout_ratio=0.0,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
