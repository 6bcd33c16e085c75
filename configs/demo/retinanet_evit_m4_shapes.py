# The embedded demo: RetinaNet-M4 trained from scratch on the generated shapes (CPU).
# Neck and head are 128 channels wide with 2 stacked convs (COCO configs: 256 and 4): at
# 160x128 the full-width head costs 6x the backbone, which would not fit the CPU budget.
_base_ = [
    '../_base_/models/retinanet_evit_fpn.py', '../_base_/datasets/shapes_detection.py',
    '../_base_/det_runtime.py'
]
model = dict(
    # from scratch (no ImageNet weights here), so BatchNorm learns its statistics
    backbone=dict(init_cfg=None, norm_eval=False),
    neck=dict(out_channels=128),
    bbox_head=dict(num_classes=3, in_channels=128, feat_channels=128, stacked_convs=2))
max_epochs = 16
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'attention_biases': dict(decay_mult=0.)}),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=1e-5)
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=4, max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
