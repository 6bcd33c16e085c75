# mmdet's Deformable DETR schedule (deformable-detr_r50_16xb2-50e_coco.py): AdamW lr 2e-4
# (x0.1 on the backbone, sampling offsets and reference points), gradient norm clipped at 0.1,
# 50 epochs, lr x0.1 at epoch 40, total batch 32.
max_epochs = 50
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0002, weight_decay=0.0001),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={
        'backbone': dict(lr_mult=0.1),
        'sampling_offsets': dict(lr_mult=0.1),
        'reference_points': dict(lr_mult=0.1)
    }))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[40],
         gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=32)
