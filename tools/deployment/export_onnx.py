"""Export a backbone, detector (without NMS) or segmentor to ONNX, checked with onnxruntime.

    # a backbone from the authors' ImageNet checkpoint (official or timm format)
    python tools/deployment/export_onnx.py --arch m4 --checkpoint pretrained/efficientvit_m4.pth \\
        --shape 800 1344 --out work_dirs/onnx/efficientvit_m4.onnx
    # a trained detector: backbone, neck and head outputs before box decoding and NMS
    python tools/deployment/export_onnx.py --config configs/retinanet_evit_m4_1x.py \\
        --checkpoint work_dirs/retinanet_evit_m4_1x/epoch_12.pth --out retinanet_m4.onnx

The model is exported in its fast-path form (BN folded, see ``mmevit/deploy/``) with a fixed
input shape; its input is the pre-processed batch (normalised, padded to ``--shape``). The
ONNX model is then run with onnxruntime on a random input and compared with the plain PyTorch
model: the maximum relative error is printed, and above ``--tolerance`` the tool fails.
"""
import argparse
import os.path as osp

import torch

import mmevit.runtime  # noqa: F401  (safe checkpoint loading, by path or URL)
from mmevit.models import build_model, task_of
from mmevit.deploy import (TensorForward, deployed_copy, export_onnx, onnx_max_relative_error,
                           onnx_session)
from mmevit.models import build_backbone


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--arch', help='a backbone: m0..m5, b0..b3, l1 or l2')
    source.add_argument('--config', help='a detector or segmentor config')
    parser.add_argument('--checkpoint',
                        help='backbone: ImageNet checkpoint (official/timm/mmevit); config: a '
                        'trained checkpoint. Without it the weights are random.')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size; default 800 1344 for detectors and backbones, the '
                        'crop size for segmentors')
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


def build_network(config, checkpoint):
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    cfg = Config.fromfile(config)
    model = build_model(cfg)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    shape = tuple(cfg.model.data_preprocessor.size) if task_of(cfg) == 'segmentation' else None
    return TensorForward(model), shape


def main():
    args = parse_args()
    if args.checkpoint and '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise SystemExit(f'Checkpoint file not found: {args.checkpoint}')
    if args.arch:
        plain, default_shape = pretrained_backbone(args.arch, args.checkpoint), None
    else:
        plain, default_shape = build_network(args.config, args.checkpoint)
    h, w = args.shape or default_shape or (800, 1344)
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
