# ADE20K for the B/L-series: mmseg's SegFormer 160k recipe for training, the EfficientViT
# authors' protocol for evaluation.
#
# Training [segformer] (segformer_mit-b0_8xb2-160k_ade20k-512x512.py): mmseg's ADE20K pipeline
# (random resize of 2048x512 by 0.5-2.0, 512x512 crops, flips, photometric distortion) and
# 2 images per GPU on 8 GPUs: a total batch of 16, for which the schedule's lr is set
# (auto_scale_lr: --auto-scale-lr scales it to another total).
#
# Evaluation as the authors evaluate (mit-han-lab/efficientvit,
# applications/efficientvit_seg/eval_efficientvit_seg_model.py): the image decoded with Pillow,
# resized bicubically so that its short side is 512 and its long side rounded up to a multiple
# of 32, whole-image inference, logits resized bicubically to the label size (the head's
# test_resize). mmseg's own test pipeline stays available as mmseg_test_pipeline.
_base_ = './ade20k.py'
train_dataloader = dict(batch_size=2, num_workers=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
mmseg_test_pipeline = {{_base_.test_pipeline}}
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='ResizeShortSide', short_side=512, size_divisor=32, interpolation='bicubic'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
