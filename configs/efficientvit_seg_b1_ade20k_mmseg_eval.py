# EfficientViT-B1 on ADE20K, evaluated with mmseg's default protocol (Resize to 2048x512 keeping
# the ratio, bilinear logits) instead of the authors' (the config it inherits): an example of
# switching protocols.
_base_ = './efficientvit_seg_b1_ade20k.py'
model = dict(decode_head=dict(test_resize=None))
val_dataloader = dict(dataset=dict(pipeline={{_base_.mmseg_test_pipeline}}))
test_dataloader = val_dataloader
