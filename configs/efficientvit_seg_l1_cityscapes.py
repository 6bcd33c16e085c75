# EfficientViT-L1 + segmentation head on Cityscapes (1024x1024 crops, 19 classes).
# Published: 82.72 mIoU (the authors' checkpoint, evaluated with their protocol, which this config
# reproduces; mit-han-lab/efficientvit). Training: mmevit's recipe, built from what the authors
# published (configs/_base_/schedules/adamw_cosine_160k.py); no model was trained here.
# SyncBN as the base, with the authors' eps of every L model
norm_cfg = dict(type='SyncBN', eps=1e-7, requires_grad=True)
_base_ = [
    './_base_/models/efficientvit_seg.py', './_base_/datasets/cityscapes_efficientvit.py',
    './_base_/schedules/adamw_cosine_160k.py', './_base_/seg_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(1024, 1024)),
    backbone=dict(
        _delete_=True, type='EfficientViTL', arch='l1', out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
            'efficientvit_l1_r224.pt'))),
    decode_head=dict(in_channels=[512, 256, 128], channels=256, depth=3,
                     expand_ratio=1, final_expand=None, num_classes=19,
                     middle_op='fmbconv', norm_cfg=norm_cfg,
                     act_cfg=dict(type='GELU', approximate='tanh')))
