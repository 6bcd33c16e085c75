# EfficientViT-L2 + segmentation head on ADE20K (512x512, 150 classes).
# Published: 50.70 mIoU (the authors' checkpoint, evaluated with their protocol, which this config
# reproduces; mit-han-lab/efficientvit). Training: mmevit's recipe, built from what the authors
# published (configs/_base_/schedules/adamw_cosine_160k.py); no model was trained here.
# The L1 config with the L2 backbone: the authors' L1 and L2 heads are the same.
_base_ = './efficientvit_seg_l1_ade20k.py'
model = dict(
    backbone=dict(arch='l2',
                  init_cfg=dict(type='Pretrained', checkpoint=(
                      'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/'
                      'efficientvit_l2_r224.pt'))))
