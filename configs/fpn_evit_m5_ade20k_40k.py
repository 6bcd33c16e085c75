# Semantic FPN + EfficientViT-M5 on ADE20K (512x512, 150 classes), AdamW 40k iterations.
_base_ = './fpn_evit_m4_ade20k_40k.py'
model = dict(
    backbone=dict(arch='m5',
                  init_cfg=dict(type='Pretrained', checkpoint=(
                      'https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/'
                      'releases/download/v1.0/efficientvit_m5.pth'))),
    neck=dict(in_channels=[192, 288, 384]))
