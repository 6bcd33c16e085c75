# Semantic FPN + EfficientViT-M4 on ADE20K (512x512, 150 classes), AdamW 40k iterations.
_base_ = [
    './_base_/models/semantic_fpn_evit.py', './_base_/datasets/ade20k.py',
    './_base_/schedules/adamw_poly_40k.py', './_base_/seg_runtime.py'
]
