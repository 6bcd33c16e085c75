# mmdet's RTMDet schedule (rtmdet_l_8xb32-300e_coco.py, which rtmdet_s inherits): AdamW
# lr 0.004 for a total batch of 256, 1000-iteration linear warm-up, flat to epoch 150 then
# cosine to 5% of the lr at epoch 300, validation every 10 epochs and every epoch in the last
# 20 (the pipeline-switch stage).
max_epochs = 300
stage2_num_epochs = 20
base_lr = 0.004
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10,
                 dynamic_intervals=[(max_epochs - stage2_num_epochs, 1)])
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0e-5, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.05, begin=max_epochs // 2,
         end=max_epochs, T_max=max_epochs // 2, by_epoch=True, convert_to_iter_based=True)
]
auto_scale_lr = dict(enable=False, base_batch_size=256)
