# Plugging EfficientViT into another mmdet detector with nothing but custom_imports:
# ATSS (mmdet's own head and assigner) on EfficientViT-M4 + the stride-16 FPN.
custom_imports = dict(imports=['mmevit', 'mmevit.runtime'], allow_failed_imports=False)
_base_ = [
    './_base_/datasets/coco_detection.py', './_base_/schedules/adamw_1x.py',
    './_base_/det_runtime.py'
]
model = dict(
    type='ATSS',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        type='EfficientViTM',
        arch='m4',
        norm_eval=True,  # ImageNet BatchNorm statistics kept, as in the authors' detectors
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/'
            'releases/download/v1.0/efficientvit_m4.pth'))),
    neck=dict(type='EfficientViTFPN', in_channels=[128, 256, 384], out_channels=256,
              num_extra_trans_convs=1, add_extra_convs='on_output', num_outs=5),
    bbox_head=dict(
        type='ATSSHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=8,
                              scales_per_octave=1, strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                        target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1,
                   pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.6), max_per_img=100))
