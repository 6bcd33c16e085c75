# mmdet's YOLOX schedule (yolox_s_8xb8-300e_coco.py): SGD lr 0.01 (Nesterov, weight decay
# 5e-4, none on norms and biases) for a total batch of 64, quadratic warm-up over 5 epochs,
# cosine to 5% of the lr at epoch 285, then flat for the last 15 (no-mosaic) epochs.
max_epochs = 300
num_last_epochs = 15
base_lr = 0.01
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10,
                 dynamic_intervals=[(max_epochs - num_last_epochs, 1)])
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='mmdet.QuadraticWarmupLR', by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.05, begin=5,
         T_max=max_epochs - num_last_epochs, end=max_epochs - num_last_epochs,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='ConstantLR', by_epoch=True, factor=1, begin=max_epochs - num_last_epochs,
         end=max_epochs)
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
