"""Convert an authors' or timm EfficientViT checkpoint into an mmevit checkpoint.

Backbone (for ``init_cfg=dict(type='Pretrained', checkpoint=...)``):

    python tools/convert_checkpoint.py efficientvit_m4.pth pretrained/efficientvit_m4.pth --arch m4
    python tools/convert_checkpoint.py efficientvit_b1_r224.pt pretrained/efficientvit_b1.pt \\
        --arch b1

Whole segmentation model of the authors (for ``tools/test.py CONFIG CHECKPOINT``):

    python tools/convert_checkpoint.py efficientvit_seg_b1_ade20k.pt seg_b1_ade20k.pth \\
        --segmentor configs/efficientvit_seg_b1_ade20k.py

The weights are loaded strictly into the target model before anything is written, and the
file is written atomically.
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config

sys.path.insert(0, osp.join(osp.dirname(__file__), '..'))
from mmevit.checkpoint import safe_torch_load  # noqa: E402
from mmevit.models.backbones import efficientvit_b, efficientvit_m  # noqa: E402
from mmevit.models.decode_heads.efficientvit_seg_head import convert_official_seg_keys  # noqa: E402,E501
from mmevit.models.utils import load_state_dict_checked, unwrap_state_dict  # noqa: E402

ARCHS = sorted([*efficientvit_m.EfficientViT.arch_settings,
                *efficientvit_b.EfficientViTB.arch_settings])


def convert_backbone(checkpoint, arch):
    if arch in efficientvit_m.EfficientViT.arch_settings:
        model = efficientvit_m.EfficientViT(arch)
        return model, efficientvit_m.checkpoint_filter_fn(checkpoint, model)
    model = efficientvit_b.EfficientViTB(arch)
    return model, efficientvit_b.checkpoint_filter_fn(checkpoint)


def convert_segmentor(checkpoint, config):
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = revert_sync_batchnorm(MODELS.build(cfg.model))
    return model, convert_official_seg_keys(unwrap_state_dict(checkpoint, prefix=None))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official or timm checkpoint')
    parser.add_argument('dst', help='output path')
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument('--arch', choices=ARCHS, help='backbone to convert for')
    target.add_argument('--segmentor', metavar='CONFIG',
                        help='mmseg config of the whole segmentation model')
    args = parser.parse_args()

    checkpoint = safe_torch_load(args.src, 'cpu')
    if args.arch:
        model, state_dict = convert_backbone(checkpoint, args.arch)
        meta = dict(arch=args.arch)
    else:
        model, state_dict = convert_segmentor(checkpoint, args.segmentor)
        meta = dict(config=osp.basename(args.segmentor))
    load_state_dict_checked(model, state_dict, source=args.src)  # fails before writing
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save({'state_dict': model.state_dict(),
                'meta': dict(meta, converted_from=osp.basename(args.src))}, tmp)
    os.replace(tmp, args.dst)  # never leave a half-written checkpoint behind
    print(f'Saved {len(state_dict)} tensors ({type(model).__name__}) to {args.dst}')


if __name__ == '__main__':
    main()
