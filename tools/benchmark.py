"""Speed of the EfficientViT backbones and models against baselines measured in the same run.

    python tools/benchmark.py                      # every CPU setting (~9 min)
    python tools/benchmark.py --settings fastpath  # one setting
    python tools/benchmark.py --settings gpu --device cuda

Settings (each row carries a ratio against the baseline named in its table):

* ``cpu224``   the paper's CPU protocol: 224x224, batch 16, one thread, img/s of the backbones
  (fast path) against mmdet's MobileNetV2 and ResNet-50 (BN folded too);
* ``detection`` RetinaNet and Mask R-CNN with M4, ResNet-50 and MobileNetV2 backbones, one
  800x1333 image, two threads, ``test_step`` latency (pre-processing to boxes/masks);
* ``fastpath`` backbones at 800x1344 on two threads, the plain module against its fast path
  (same weights), the compiled fast path and onnxruntime on the exported fast path; max
  relative errors; for some, the CPU time split by kind of op (torch.profiler);
* ``training`` one RetinaNet-M4 training iteration (2 images of 800x1333, AdamW) with and
  without ``with_cp``, each in a fresh process: time and the rise of peak memory;
* ``kernels``  kernels one backbone forward launches (torch.profiler): plain, fast path and
  compiled, for M4 and B1 at 800x1344 (on a CPU: the aten ops that would each launch one);
* ``gpu``      with ``--device cuda``: ``test_step`` latency of RetinaNet and Mask R-CNN with
  M4, B1, L1, ResNet-50 and MobileNetV2 at 800x1333 and of the B/L segmentors at
  512x512/1024x2048, eager and in every fast form (fast path, compiled with CUDA graphs,
  fp16), with their score differences from eager; backbone throughput at 224x224 in fp16
  against timm's implementations when timm is installed; training iterations (eager,
  compiled, AMP) with peak memory, compile time, gradient agreement and the projected COCO
  1x wall time on 8 GPUs. Ratios are over the eager ResNet-50 detector of the same run.
  ``--device cpu`` runs the same code (for checking it, not for figures).
* ``deployment`` RetinaNet-M4 and RetinaNet-R50 exported end to end through mmdeploy
  (``configs/deploy/``) and run in onnxruntime, against PyTorch eager and the fast path,
  one 800x1344 image, two threads; run from ``.venv-deploy`` (``make deploy-venv``); not in
  the default set.

Candidates of a setting are timed round-robin, one call of each in turn (a shared machine's
slow phases then hit all of them), and medians of ``--reps`` rounds (``--det-reps`` for
detectors, ``--train-reps`` for training) after warm-up are reported. The tables are printed as
markdown, and everything goes to ``--out`` (JSON) with the machine's description; ``--plot``
draws backbone speed against params and MACs from the ``cpu224`` rows.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List

import torch

from mmevit.benchmark import SETTINGS, Progress
from mmevit.benchmark.subjects import machine
from mmevit.models import ARCHS, backbone_class


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--settings', nargs='+', choices=list(SETTINGS),
                        help='default: every CPU setting, plus gpu with --device cuda')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--out', default='work_dirs/benchmark/benchmark.json')
    parser.add_argument('--plot', default='work_dirs/benchmark/backbone_speed.png',
                        help='PNG of the cpu224 rows (empty: no plot)')
    for setting in SETTINGS.values():
        setting.add_arguments(parser)
    return parser.parse_args()


def plot(results: List[dict], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [r for r in results if r['setting'] == 'cpu224']
    if not rows:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], 'params', 'params (M)'), (axes[1], 'macs', 'MACs (G)')):
        families = {}
        for r in rows:
            family = (backbone_class(r['model']).arch_family if r['model'] in ARCHS
                      else 'mmdet baselines')
            families.setdefault(family, []).append(r)
        for (family, sel), marker in zip(families.items(), 'os^Dv'):
            scale = 1e6 if key == 'params' else 1e9
            xs = [r[key] / scale for r in sel]
            ys = [r['img_per_s'] for r in sel]
            ax.plot(xs, ys, marker, linestyle='' if family == 'mmdet baselines' else '-',
                    label=family)
            for r, x_, y_ in zip(sel, xs, ys):
                ax.annotate(r['model'], (x_, y_), textcoords='offset points', xytext=(4, 4),
                            fontsize=8)
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xlabel(label)
        ax.set_ylabel('img/s (224x224, batch 16, 1 CPU thread)')
        ax.grid(True, which='both', alpha=0.3)
    axes[0].legend()
    fig.suptitle(f'Backbone throughput on {machine()["cpu"]} '
                 '(tools/benchmark.py)', fontsize=9)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def main():
    args = parse_args()
    # by default every CPU setting (the deployment one needs .venv-deploy), gpu with cuda
    names = args.settings or [s for s in SETTINGS if s != 'deployment'
                              and (s != 'gpu' or args.device != 'cpu')]
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda needs a visible CUDA device')
    if 'gpu' in names and args.device == 'cpu':
        print('Running the gpu setting on the CPU: it checks the code; its numbers are no GPU '
              'figures', file=sys.stderr)
    progress, results, tables = Progress(), [], []
    for name in names:
        setting = SETTINGS[name]()
        rows = setting.run(args, progress)
        results += rows
        if rows:
            tables += setting.tables(rows)
    print('\n' + '\n\n'.join(table.markdown() for table in tables))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(dict(machine=machine(), args=vars(args), results=results), f, indent=1)
    print(f'\nwrote {args.out}')
    if args.plot and any(r['setting'] == 'cpu224' for r in results):
        plot(results, args.plot)
        print(f'wrote {args.plot}')


if __name__ == '__main__':
    main()
