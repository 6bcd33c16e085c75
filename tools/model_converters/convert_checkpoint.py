"""Convert an authors' or timm EfficientViT checkpoint into an mmevit checkpoint.

Backbone (for ``init_cfg=dict(type='Pretrained', checkpoint=...)``):

    python tools/model_converters/convert_checkpoint.py efficientvit_m4.pth \\
        pretrained/efficientvit_m4.pth --arch m4
    python tools/model_converters/convert_checkpoint.py efficientvit_b1_r224.pt \\
        pretrained/efficientvit_b1.pt --arch b1

Whole segmentation model of the authors (for ``tools/test.py CONFIG CHECKPOINT``), here
straight from their release (any source may be a local path or a URL, downloaded once):

    python tools/model_converters/convert_checkpoint.py \\
        https://huggingface.co/han-cai/efficientvit-seg/resolve/main/efficientvit_seg_b1_ade20k.pt \\
        seg_b1_ade20k.pth --segmentor configs/efficientvit_seg_b1_ade20k.py

Whole COCO detector of the authors (microsoft/Cream, mmdet 2.x; ``tools/test.py``,
``load_from`` and ``DetInferencer`` also take it as it is), with its dataset classes:

    python tools/model_converters/convert_checkpoint.py \
        https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/releases/download/v1.0/retinanet_efficientvit_m4_fpn_1x_coco.pth \
        retinanet_evit_m4_1x_coco.pth --detector configs/retinanet_evit_m4_1x.py

An mmevit checkpoint passes through unchanged. The weights are loaded strictly into the
target model before anything is written (every missing, unexpected or mis-shaped key is an
error naming it), and the file is written atomically.
"""
import argparse
import io
import os.path as osp

import torch
from mmengine.config import Config

from mmevit.models import build_model
from mmevit.checkpoint import CheckpointError, atomic_write, load_checkpoint
from mmevit.models import ARCHS, build_backbone
from mmevit.models.converters import (convert_model_state_dict, convert_official_seg_keys,
                                      load_state_dict_checked, unwrap_state_dict)


def dataset_meta(checkpoint) -> dict:
    """The classes a whole-model checkpoint names: mmengine's ``meta.dataset_meta`` or
    mmdet 2.x's ``meta.CLASSES``; empty when it names none."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict):
        return {}
    if isinstance(meta.get('dataset_meta'), dict):
        return dict(meta['dataset_meta'])
    if meta.get('CLASSES'):
        return dict(classes=tuple(meta['CLASSES']))
    return {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official or timm checkpoint: a path or a URL')
    parser.add_argument('dst', help='output path')
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument('--arch', choices=ARCHS, help='backbone to convert for')
    target.add_argument('--segmentor', metavar='CONFIG',
                        help='mmseg config of the whole segmentation model')
    target.add_argument('--detector', metavar='CONFIG',
                        help='mmdet config of the whole detector (the authors\' COCO '
                        'detectors: configs/retinanet_evit_m4_1x.py, '
                        'configs/mask_rcnn_evit_m4_1x.py)')
    args = parser.parse_args()

    checkpoint = load_checkpoint(args.src, map_location='cpu')
    if args.arch:
        model = build_backbone(args.arch)
        state_dict = model.filter_checkpoint(checkpoint)
        meta = dict(arch=args.arch)
    elif args.segmentor:
        model = build_model(Config.fromfile(args.segmentor))
        state_dict = convert_official_seg_keys(unwrap_state_dict(checkpoint, prefix=None))
        meta = dict(config=osp.basename(args.segmentor))
    else:
        model = build_model(Config.fromfile(args.detector))
        state_dict = convert_model_state_dict(model, unwrap_state_dict(checkpoint, prefix=None))
        meta = dict(config=osp.basename(args.detector))
        if dataset_meta(checkpoint):
            meta['dataset_meta'] = dataset_meta(checkpoint)
    load_state_dict_checked(model, state_dict, source=args.src)  # fails before writing
    buffer = io.BytesIO()
    torch.save({'state_dict': model.state_dict(),
                'meta': dict(meta, converted_from=osp.basename(args.src))}, buffer)
    atomic_write(args.dst, buffer.getvalue())  # never a half-written checkpoint
    print(f'Saved {len(state_dict)} tensors ({type(model).__name__}) to {args.dst}')


if __name__ == '__main__':
    try:
        main()
    except CheckpointError as err:
        raise SystemExit(str(err)) from None
