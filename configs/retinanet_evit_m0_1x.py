# RetinaNet + EfficientViT-M0, COCO 1x (the M4 recipe with another backbone).
_base_ = './retinanet_evit_m4_1x.py'
model = dict(
    backbone=dict(arch='m0',
                  init_cfg=dict(type='Pretrained', checkpoint=(
                      'https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/'
                      'releases/download/v1.0/efficientvit_m0.pth'))),
    neck=dict(in_channels=[64, 128, 192]))
