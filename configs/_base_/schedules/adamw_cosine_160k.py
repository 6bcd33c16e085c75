# The B/L-series segmentation schedule. The authors released no segmentation training code or
# hyper-parameters (mit-han-lab/efficientvit, whole history to de7d773; their issues 2, 6, 8,
# 10, 171); the paper (arXiv 2205.14756 v6, section 3.1) says only: AdamW, cosine learning-rate
# decay, an ImageNet-pretrained backbone and a randomly initialised head. Every value below is
# from one of these sources:
#   [paper]    the paper, section 3.1
#   [imagenet] the authors' ImageNet recipe (configs/cls/imagenet/default.yaml)
#   [segformer] mmseg's SegFormer 160k recipe (segformer_mit-b0_8xb2-160k_ade20k-512x512.py)
#   [chosen]   chosen here: nothing published, not tuned here (no model was trained here)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW',  # [paper]
        lr=1e-3,  # [chosen], for the total batch of the dataset file (auto_scale_lr)
        betas=(0.9, 0.999), eps=1e-8,  # [imagenet]
        weight_decay=0.1),  # [imagenet]
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))  # [imagenet] no_wd_keys
param_scheduler = [
    # [segformer] 1500-iteration linear warm-up from 1e-6 of the lr
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    # [paper] cosine decay, to 0 [chosen], over the rest of the 160k iterations [segformer]
    dict(type='CosineAnnealingLR', eta_min=0.0, begin=1500, end=160000, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000, val_interval=16000)  # [segformer]
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=16000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
