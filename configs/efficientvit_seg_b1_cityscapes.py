# EfficientViT-B1 + segmentation head on Cityscapes (1024x1024 crops, 19 classes).
# Published: 80.55 mIoU (the authors' checkpoint, evaluated with their protocol, which this config
# reproduces; mit-han-lab/efficientvit). Training: mmevit's recipe, built from what the authors
# published (configs/_base_/schedules/adamw_cosine_160k.py); no model was trained here.
_base_ = [
    './_base_/models/efficientvit_seg.py', './_base_/datasets/cityscapes_efficientvit.py',
    './_base_/schedules/adamw_cosine_160k.py', './_base_/seg_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(1024, 1024)),
    backbone=dict(arch='b1',
                  init_cfg=dict(type='Pretrained', checkpoint=(
                      'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
                      'efficientvit_b1_r224.pt'))),
    decode_head=dict(in_channels=[256, 128, 64], channels=64, depth=3,
                     final_expand=4, num_classes=19))
