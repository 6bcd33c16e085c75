# EfficientViT-B0 + segmentation head on Cityscapes (1024x1024 crops, 19 classes).
# Published: 75.65 mIoU (the authors' checkpoint, evaluated with their protocol, which this config
# reproduces; mit-han-lab/efficientvit). Training: mmevit's recipe, built from what the authors
# published (configs/_base_/schedules/adamw_cosine_160k.py); no model was trained here.
# B0's ImageNet file is named in the authors' model zoo (efficientvit/cls_model_zoo.py)
# but not linked in their README; its URL follows its siblings' (b1..b3).
_base_ = [
    './_base_/models/efficientvit_seg.py', './_base_/datasets/cityscapes_efficientvit.py',
    './_base_/schedules/adamw_cosine_160k.py', './_base_/seg_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(1024, 1024)),
    backbone=dict(arch='b0',
                  init_cfg=dict(type='Pretrained', checkpoint=(
                      'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
                      'efficientvit_b0_r224.pt'))),
    decode_head=dict(in_channels=[128, 64, 32], channels=32, depth=1,
                     final_expand=4, num_classes=19))
