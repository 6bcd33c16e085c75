# Cascade Mask R-CNN + EfficientViT-B1, COCO.
# Levels: mmdet's FPN on the four stages (strides 4..32) plus a max-pooled
# stride-64 level, as on ResNet.
# Otherwise as cascade_mask_rcnn_evit_m4_1x_coco.py (schedule and pipeline).
# Not trained here: no COCO result measured with mmevit.
_base_ = './cascade_mask_rcnn_evit_m4_1x_coco.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='EfficientViTB',
        arch='b1',
        out_indices=(0, 1, 2, 3),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
            'efficientvit_b1_r224.pt'))),
    neck=dict(_delete_=True, type='FPN', in_channels=[32, 64, 128, 256], out_channels=256,
              num_outs=5))
