# FCOS + EfficientViT-B1, COCO.
# Levels: mmdet's FPN on the stride-8/16/32 stages plus two stride-2 convs on
# its stride-32 output (strides 8..128), as on ResNet.
# Otherwise as fcos_evit_m4_1x_coco.py (schedule and pipeline).
# Not trained here: no COCO result measured with mmevit.
_base_ = './fcos_evit_m4_1x_coco.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='EfficientViTB',
        arch='b1',
        out_indices=(1, 2, 3),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
            'efficientvit_b1_r224.pt'))),
    neck=dict(_delete_=True, type='FPN', in_channels=[64, 128, 256], out_channels=256,
              add_extra_convs='on_output', num_outs=5,
              relu_before_extra_convs=True))
