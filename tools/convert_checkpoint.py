"""Convert an EfficientViT checkpoint (the authors' or timm's) to an mmevit backbone checkpoint.

    python tools/convert_checkpoint.py efficientvit_m4.pth pretrained/efficientvit_m4.pth --arch m4

The result holds ``{'state_dict': backbone weights, 'meta': {...}}``, loads with
``init_cfg=dict(type='Pretrained', checkpoint=...)`` and is checked against the arch before
it is written.
"""
import argparse
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.join(osp.dirname(__file__), '..'))
from mmevit.checkpoint import safe_torch_load  # noqa: E402
from mmevit.models.backbones.efficientvit_m import EfficientViT, checkpoint_filter_fn  # noqa: E402
from mmevit.models.utils import load_state_dict_checked  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official or timm checkpoint')
    parser.add_argument('dst', help='output path')
    parser.add_argument('--arch', required=True, choices=sorted(EfficientViT.arch_settings))
    args = parser.parse_args()

    model = EfficientViT(args.arch)
    state_dict = checkpoint_filter_fn(safe_torch_load(args.src, 'cpu'), model)
    load_state_dict_checked(model, state_dict, source=args.src)  # fails before writing
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save({'state_dict': model.state_dict(),
                'meta': dict(arch=args.arch, converted_from=osp.basename(args.src))}, tmp)
    os.replace(tmp, args.dst)  # never leave a half-written checkpoint behind
    print(f'Saved {len(state_dict)} tensors of EfficientViT-{args.arch.upper()} to {args.dst}')


if __name__ == '__main__':
    main()
