# Mask R-CNN + EfficientViT-B2, COCO 1x: a standard FPN on the stride-4..32 stages
# (strides 4..64 with max-pooling on top), the M4 recipe otherwise.
# The authors publish no detection recipe for this family; BatchNorm statistics stay
# frozen (norm_eval=True), mmdet's convention for BatchNorm backbones at 2 images per GPU.
_base_ = './mask_rcnn_evit_m4_1x.py'
model = dict(
    backbone=dict(_delete_=True, type='EfficientViTB', arch='b2', out_indices=(0, 1, 2, 3),
                  norm_eval=True,
                  init_cfg=dict(type='Pretrained', checkpoint=(
                      'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
                      'efficientvit_b2_r224.pt'))),
    neck=dict(_delete_=True, type='FPN', in_channels=[48, 96, 192, 384], out_channels=256,
              num_outs=5))
