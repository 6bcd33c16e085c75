# RetinaNet + EfficientViT-L1, COCO 1x: a standard FPN on the stride-8/16/32 stages
# plus two extra stride-2 convs (strides 8..128), the M4 recipe otherwise (as the B configs).
# The authors publish no detection recipe for this family; BatchNorm statistics stay
# frozen (norm_eval=True), mmdet's convention for BatchNorm backbones at 2 images per GPU.
_base_ = './retinanet_evit_m4_1x.py'
model = dict(
    backbone=dict(
        _delete_=True, type='EfficientViTL', arch='l1', out_indices=(1, 2, 3),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
            'efficientvit_l1_r224.pt'))),
    neck=dict(_delete_=True, type='FPN', in_channels=[128, 256, 512], out_channels=256,
              start_level=0, add_extra_convs='on_input', num_outs=5))
