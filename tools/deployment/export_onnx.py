"""Export a backbone alone to ONNX (its multi-stage features), checked with onnxruntime.

    # a backbone from the authors' ImageNet checkpoint (official or timm format)
    python tools/deployment/export_onnx.py --arch m4 --checkpoint pretrained/efficientvit_m4.pth \\
        --shape 800 1344 --out work_dirs/onnx/efficientvit_m4.onnx

For a user's own head or runtime, which needs the feature extractor only (mmdeploy exports
whole mmdet/mmseg models, never a backbone alone). Detectors and segmentors are exported by
``tools/deployment/deploy.py`` through mmdeploy, post-processing included: one way each.

The backbone is exported in its fast-path form (BN folded, see ``mmevit/deploy/``) with a
fixed input shape; its input is the normalised image batch. The ONNX model is then run with
onnxruntime on a random input and compared with the plain PyTorch backbone: the maximum
relative error is printed, and above ``--tolerance`` the tool fails.
"""
import argparse
import os.path as osp

import torch

import mmevit.runtime  # noqa: F401  (safe checkpoint loading, by path or URL)
from mmevit.deploy import deployed_copy, export_onnx, onnx_max_relative_error, onnx_session
from mmevit.models import build_backbone


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', required=True, help='m0..m5, b0..b3, l1 or l2')
    parser.add_argument('--checkpoint', help='ImageNet checkpoint (official, timm or mmevit '
                        'format), path or URL. Without it the weights are random.')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=(800, 1344),
                        help='input size (default: a padded COCO image)')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest accepted max relative error against PyTorch')
    return parser.parse_args()


def pretrained_backbone(arch, checkpoint):
    init_cfg = dict(type='Pretrained', checkpoint=checkpoint) if checkpoint else None
    model = build_backbone(arch, init_cfg=init_cfg)
    model.init_weights()
    return model.eval()


def main():
    args = parse_args()
    if args.checkpoint and '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise SystemExit(f'Checkpoint file not found: {args.checkpoint}')
    plain = pretrained_backbone(args.arch, args.checkpoint)
    h, w = args.shape
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    fast = deployed_copy(plain)
    export_onnx(fast, x, args.out, opset_version=args.opset)
    error = onnx_max_relative_error(onnx_session(args.out), plain, x)
    print(f'wrote {args.out} (input 1x3x{h}x{w}); onnxruntime vs PyTorch: max relative error '
          f'{error:.2e}')
    if error > args.tolerance:
        raise SystemExit(f'max relative error {error:.2e} exceeds --tolerance {args.tolerance}')


if __name__ == '__main__':
    main()
