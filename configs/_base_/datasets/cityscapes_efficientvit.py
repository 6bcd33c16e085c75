# Cityscapes for the B/L-series: mmseg's SegFormer 160k recipe for training, the EfficientViT
# authors' protocol for evaluation.
#
# Training [segformer] (segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py): mmseg's Cityscapes
# pipeline with 1024x1024 crops (random resize of 2048x1024 by 0.5-2.0, crops, flips,
# photometric distortion) and 1 image per GPU on 8 GPUs: a total batch of 8, for which the
# schedule's lr is set (auto_scale_lr: --auto-scale-lr scales it to another total).
#
# Evaluation as the authors evaluate (mit-han-lab/efficientvit,
# applications/efficientvit_seg/eval_efficientvit_seg_model.py): the image decoded with Pillow,
# at 1024x2048 (resized bicubically only if it is not), whole-image inference, logits resized
# bicubically to the label size (the head's test_resize). mmseg's own test pipeline stays
# available as mmseg_test_pipeline.
_base_ = './cityscapes.py'
crop_size = (1024, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=1, num_workers=2, dataset=dict(pipeline=train_pipeline))
auto_scale_lr = dict(enable=False, base_batch_size=8)
mmseg_test_pipeline = {{_base_.test_pipeline}}
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=False, interpolation='bicubic'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
