# Segmentation demo: EfficientViT-B1 + its segmentation head, from scratch on the generated
# shapes (CPU), evaluated with mmseg's IoUMetric.
_base_ = [
    '../_base_/models/efficientvit_seg.py', '../_base_/datasets/shapes_segmentation.py',
    '../_base_/seg_runtime.py'
]
# plain BN: CPU runs, also multi-process ones (gloo), where SyncBN is not available
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=(128, 160)),
    # from scratch: no ImageNet weights here
    backbone=dict(arch='b1', init_cfg=None, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[256, 128, 64], channels=64, depth=3, final_expand=4,
                     num_classes=4, norm_cfg=norm_cfg))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=50, end=800, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=800, val_interval=800)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=400, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
