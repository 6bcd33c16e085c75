"""Params and MACs: the M- and L-series ImageNet models beside the published ones, or whole
configs.

    python tools/analysis_tools/get_flops.py          # m0..m5, l1, l2 classifiers vs. published
    python tools/analysis_tools/get_flops.py --configs configs/retinanet_evit_m4_1x.py ...

Config rows use the COCO test size for detectors (800x1344 after padding) and the crop size
for segmentors, count backbone, neck and heads with BatchNorm folded (no NMS, no resizing),
and repeat the ``# Published:`` line of each config.
"""
import argparse
import os.path as osp

from mmengine.config import Config

from mmevit.analysis import PAPER_COMPLEXITY, imagenet_complexity, model_complexity
from mmevit.models import task_of


def input_shape(cfg):
    if task_of(cfg) == 'segmentation':
        return (1, 3, *cfg.model.data_preprocessor.size)
    return (1, 3, 800, 1344)


def published(path):
    with open(path) as f:
        for line in f:
            if line.startswith('# Published:'):  # the figures, without their source
                return line[len('# Published:'):].split(' (')[0].strip().rstrip('.')
    return '-'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--archs', nargs='+', default=list(PAPER_COMPLEXITY),
                        choices=list(PAPER_COMPLEXITY))
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--configs', nargs='+', help='print a model-zoo row for each config')
    args = parser.parse_args()
    if args.configs:
        print('| config | input | params (M) | MACs (G) | published |')
        print('|---|---|---|---|---|')
        for path in args.configs:
            cfg = Config.fromfile(path)
            shape = input_shape(cfg)
            c = model_complexity(cfg, shape)
            print(f'| `{osp.basename(path)}` | {shape[2]}x{shape[3]} | {c["params"] / 1e6:.2f} '
                  f'| {c["macs"] / 1e9:.1f} | {published(path)} |', flush=True)
        return
    print(f'{"arch":<6}{"params (M)":>12}{"paper":>8}{"MACs (M)":>12}{"paper":>8}')
    for arch in args.archs:
        c = imagenet_complexity(arch, args.img_size)
        paper_params, paper_macs = PAPER_COMPLEXITY[arch]
        print(f'{arch:<6}{c["params"] / 1e6:>12.2f}{paper_params:>8.2f}'
              f'{c["macs"] / 1e6:>12.1f}{paper_macs:>8}')


if __name__ == '__main__':
    main()
