# Mask R-CNN + MobileNetV2 (mmdet's), a speed baseline of tools/benchmark.py: the M4
# recipe with a standard FPN on the stride-4..32 stages.
_base_ = '../mask_rcnn_evit_m4_1x.py'
model = dict(
    backbone=dict(_delete_=True, type='MobileNetV2', out_indices=(1, 2, 4, 6),
                  act_cfg=dict(type='ReLU6'),
                  norm_eval=True,  # ImageNet statistics kept, as for every detector here
                  init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://mmdet/mobilenet_v2')),
    neck=dict(_delete_=True, type='FPN', in_channels=[24, 32, 96, 320], out_channels=256,
              num_outs=5))
