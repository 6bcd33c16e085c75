# Segmentation demo: Semantic FPN-M4 trained from scratch on the generated shapes (CPU).
_base_ = [
    '../_base_/models/semantic_fpn_evit.py', '../_base_/datasets/shapes_segmentation.py',
    '../_base_/seg_runtime.py'
]
# plain BN: CPU runs, also multi-process ones (gloo), where SyncBN is not available
norm_cfg = dict(type='BN', requires_grad=True)
# Narrower than the ADE20K recipe (256/128), whose neck and head dominate CPU time at 128x160.
model = dict(
    data_preprocessor=dict(size=(128, 160)),
    backbone=dict(init_cfg=None, norm_cfg=norm_cfg),  # from scratch: no ImageNet weights
    neck=dict(out_channels=128),
    decode_head=dict(in_channels=[128] * 4, channels=64, num_classes=4, norm_cfg=norm_cfg))
# 400 training images overfit without scale augmentation (train acc 99%, val mIoU 58).
crop_size = (128, 160)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(160, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'attention_biases': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=50, end=900, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=900, val_interval=900)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=300, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
