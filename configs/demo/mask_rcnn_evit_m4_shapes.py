# Mask R-CNN-M4 trained from scratch on the generated shapes (CPU); boxes and masks.
# To fit the CPU budget: neck 128 channels wide (COCO configs: 256), and few proposals and
# sampled RoIs (at most 3 shapes per image need far fewer than COCO's 2000 and 512).
_base_ = [
    '../_base_/models/mask_rcnn_evit_fpn.py', '../_base_/datasets/shapes_detection.py',
    '../_base_/det_runtime.py'
]
model = dict(
    # from scratch (no ImageNet weights here), so BatchNorm learns its statistics
    backbone=dict(init_cfg=None, norm_eval=False),
    neck=dict(out_channels=128),
    rpn_head=dict(in_channels=128, feat_channels=128,
                  anchor_generator=dict(scales=[4])),  # shapes are 20-50 px
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(in_channels=128, fc_out_channels=256, num_classes=3),
        mask_roi_extractor=dict(out_channels=128),
        mask_head=dict(num_convs=2, in_channels=128, conv_out_channels=128, num_classes=3)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=500, max_per_img=100),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100)))
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator
max_epochs = 10
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
