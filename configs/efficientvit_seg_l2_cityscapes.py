# EfficientViT-L2 + segmentation head on Cityscapes (1024x1024 crops, 19 classes).
# Published: 83.23 mIoU (the authors' checkpoint, evaluated with their protocol, which this config
# reproduces; mit-han-lab/efficientvit). Training: mmevit's recipe, built from what the authors
# published (configs/_base_/schedules/adamw_cosine_160k.py); no model was trained here.
# The L1 config with the L2 backbone and the authors' deeper L2 head (5 blocks instead of 3).
_base_ = './efficientvit_seg_l1_cityscapes.py'
model = dict(
    backbone=dict(arch='l2',
                  init_cfg=dict(type='Pretrained', checkpoint=(
                      'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
                      'efficientvit_l2_r224.pt'))),
    decode_head=dict(depth=5))
