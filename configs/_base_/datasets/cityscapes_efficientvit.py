# Cityscapes evaluated as the EfficientViT authors evaluate it (mit-han-lab/efficientvit,
# applications/efficientvit_seg/eval_efficientvit_seg_model.py): the image decoded with Pillow,
# at 1024x2048 (resized bicubically only if it is not), whole-image inference, logits resized
# bicubically to the label size (the head's test_resize). mmseg's own test pipeline stays
# available as mmseg_test_pipeline.
_base_ = './cityscapes.py'
mmseg_test_pipeline = {{_base_.test_pipeline}}
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=False, interpolation='bicubic'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
