# Fine-tuning a COCO-trained RetinaNet-M4 (configs/retinanet_evit_m4_1x.py) on the generated
# shapes, 3 classes: the COCO detector's architecture, every weight from load_from except the
# classifier, whose 80-class shape does not fit; mmengine reports it as a size mismatch and the
# layer keeps its fresh initialisation. Point load_from at your COCO checkpoint.
_base_ = [
    '../_base_/models/retinanet_evit_fpn.py', '../_base_/datasets/shapes_detection.py',
    '../_base_/det_runtime.py'
]
load_from = 'work_dirs/retinanet_evit_m4_1x/epoch_12.pth'
model = dict(
    backbone=dict(init_cfg=None),  # the whole detector comes from load_from
    bbox_head=dict(num_classes=3))
max_epochs = 6
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'attention_biases': dict(decay_mult=0.)}),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=1e-6)
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=2, max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
