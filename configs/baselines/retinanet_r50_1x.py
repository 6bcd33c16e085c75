# RetinaNet + ResNet-50 (mmdet's), the speed baseline of tools/benchmark.py: the M4
# recipe with a standard FPN on the stride-8/16/32 stages and extra convs to stride 128.
_base_ = '../retinanet_evit_m4_1x.py'
model = dict(
    backbone=dict(_delete_=True, type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
                  frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True,
                  style='pytorch',
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(_delete_=True, type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256,
              start_level=1, add_extra_convs='on_input', num_outs=5))
