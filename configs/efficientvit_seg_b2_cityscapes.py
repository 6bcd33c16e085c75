# EfficientViT-B2 + segmentation head on Cityscapes (1024x1024 crops, 19 classes).
# Published: 82.07 mIoU (the authors' checkpoint, evaluated with their protocol, which this config
# reproduces; mit-han-lab/efficientvit). Training: mmevit's recipe, built from what the authors
# published (configs/_base_/schedules/adamw_cosine_160k.py); no model was trained here.
_base_ = [
    './_base_/models/efficientvit_seg.py', './_base_/datasets/cityscapes_efficientvit.py',
    './_base_/schedules/adamw_cosine_160k.py', './_base_/seg_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(1024, 1024)),
    backbone=dict(arch='b2',
                  init_cfg=dict(type='Pretrained', checkpoint=(
                      'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
                      'efficientvit_b2_r224.pt'))),
    decode_head=dict(in_channels=[384, 192, 96], channels=96, depth=3,
                     final_expand=4, num_classes=19))
