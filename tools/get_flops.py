"""Params and MACs of EfficientViT-M0..M5 ImageNet models beside the paper's numbers.

    python tools/get_flops.py [--archs m0 m4] [--img-size 224]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(__file__), '..'))
from mmevit.analysis import efficientvit_m_imagenet_complexity  # noqa: E402

# Table 1 of Liu et al., CVPR 2023 (params in M, MACs in M at 224x224).
PAPER = {'m0': (2.35, 79), 'm1': (2.98, 167), 'm2': (4.19, 201), 'm3': (6.90, 263),
         'm4': (8.80, 299), 'm5': (12.47, 522)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--archs', nargs='+', default=sorted(PAPER), choices=sorted(PAPER))
    parser.add_argument('--img-size', type=int, default=224)
    args = parser.parse_args()
    print(f'{"arch":<6}{"params (M)":>12}{"paper":>8}{"MACs (M)":>12}{"paper":>8}')
    for arch in args.archs:
        c = efficientvit_m_imagenet_complexity(arch, args.img_size)
        paper_params, paper_macs = PAPER[arch]
        print(f'{arch:<6}{c["params"] / 1e6:>12.2f}{paper_params:>8.2f}'
              f'{c["macs"] / 1e6:>12.1f}{paper_macs:>8}')


if __name__ == '__main__':
    main()
