# ADE20K evaluated as the EfficientViT authors evaluate it (mit-han-lab/efficientvit,
# applications/efficientvit_seg/eval_efficientvit_seg_model.py): the image decoded with Pillow,
# resized bicubically so that its short side is 512 and its long side rounded up to a multiple
# of 32, whole-image inference, logits resized bicubically to the label size (the head's
# test_resize). mmseg's own test pipeline stays available as mmseg_test_pipeline.
_base_ = './ade20k.py'
mmseg_test_pipeline = {{_base_.test_pipeline}}
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='ResizeShortSide', short_side=512, size_divisor=32, interpolation='bicubic'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
