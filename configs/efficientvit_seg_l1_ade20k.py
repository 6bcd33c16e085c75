# EfficientViT-L1 + segmentation head on ADE20K (512x512, 150 classes).
# Published: 49.19 mIoU (the authors' checkpoint, evaluated with their protocol, which this config
# reproduces; mit-han-lab/efficientvit). Training: mmevit's recipe, built from what the authors
# published (configs/_base_/schedules/adamw_cosine_160k.py); no model was trained here.
# SyncBN as the base, with the authors' eps of every L model
norm_cfg = dict(type='SyncBN', eps=1e-7, requires_grad=True)
_base_ = [
    './_base_/models/efficientvit_seg.py', './_base_/datasets/ade20k_efficientvit.py',
    './_base_/schedules/adamw_cosine_160k.py', './_base_/seg_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    backbone=dict(
        _delete_=True, type='EfficientViTL', arch='l1', out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
            'efficientvit_l1_r224.pt'))),
    decode_head=dict(in_channels=[512, 256, 128], channels=128, depth=3,
                     expand_ratio=4, final_expand=8, num_classes=150,
                     middle_op='fmbconv', norm_cfg=norm_cfg,
                     act_cfg=dict(type='GELU', approximate='tanh')))
