# EfficientViT-B3 + segmentation head on ADE20K (512x512, 150 classes).
# Published: 49.01 mIoU (the authors' checkpoint, evaluated with their protocol, which this config
# reproduces; mit-han-lab/efficientvit). Training: mmevit's recipe, built from what the authors
# published (configs/_base_/schedules/adamw_cosine_160k.py); no model was trained here.
_base_ = [
    './_base_/models/efficientvit_seg.py', './_base_/datasets/ade20k_efficientvit.py',
    './_base_/schedules/adamw_cosine_160k.py', './_base_/seg_runtime.py'
]
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    backbone=dict(arch='b3',
                  init_cfg=dict(type='Pretrained', checkpoint=(
                      'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
                      'efficientvit_b3_r224.pt'))),
    decode_head=dict(in_channels=[512, 256, 128], channels=128, depth=3,
                     final_expand=None, num_classes=150))
