# YOLOX-s + EfficientViT-M4, COCO.
# Levels: a list of necks (an nn.Sequential): EfficientViTFPN turns the
# stride-16/32/64 stages into strides 8/16/32 (one transposed conv for stride 8;
# the stride-64 stage feeds the top-down path only, num_top_down_only_levels=1),
# then mmdet's YOLOXPAFPN as on CSPDarknet's stride-8/16/32 stages.
# Schedule and pipeline: mmdet's yolox_s_8xb8-300e_coco.py (SGD lr 0.01, 300 epochs,
# mosaic/affine/mixup then 15 plain epochs, EMA; total batch 64).
# Not trained here: no COCO result measured with mmevit.
_base_ = [
    '../_base_/models/yolox_s.py',
    '../_base_/datasets/coco_detection_yolox.py',
    '../_base_/schedules/yolox_300e.py',
    '../_base_/det_runtime.py',
]
model = dict(
    backbone=dict(
        type='EfficientViTM',
        arch='m4',
        out_indices=(0, 1, 2),
        norm_eval=True,  # ImageNet BatchNorm statistics kept, as mmdet does for ResNets
        init_cfg=dict(type='Pretrained', checkpoint=(
            'https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/'
            'releases/download/v1.0/efficientvit_m4.pth'))),
    neck=[
        dict(type='EfficientViTFPN', in_channels=[128, 256, 384], out_channels=128,
             num_extra_trans_convs=1, num_top_down_only_levels=1, num_outs=3),
        dict(type='YOLOXPAFPN', in_channels=[128, 128, 128], out_channels=128,
             num_csp_blocks=1, use_depthwise=False,
             upsample_cfg=dict(scale_factor=2, mode='nearest'),
             norm_cfg=dict(type='BN', momentum=0.03, eps=0.001), act_cfg=dict(type='Swish'))
    ])
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
custom_hooks = [
    dict(type='YOLOXModeSwitchHook', num_last_epochs=15, priority=48),
    dict(type='SyncNormHook', priority=48),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, update_buffers=True,
         priority=49)
]
