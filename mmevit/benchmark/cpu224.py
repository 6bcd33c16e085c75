"""The paper's CPU protocol: 224x224, batch 16, one thread, img/s of the backbones (fast path)
against mmdet's MobileNetV2 and ResNet-50 (BN folded too)."""
from typing import List

import torch

from mmevit.analysis import count_macs, count_params
from mmevit.benchmark.base import Progress, Setting, Table, ratio, round_robin
from mmevit.benchmark.subjects import PAPER_CPU, benchmark_backbone
from mmevit.deploy import deployed_copy
from mmevit.models import ARCHS
from mmevit.testing import randomize_batchnorm

BASELINES = ('mobilenetv2', 'resnet50')


class CPU224(Setting):
    name = 'cpu224'

    @staticmethod
    def add_arguments(parser):
        parser.add_argument('--archs', nargs='+', default=list(ARCHS), choices=ARCHS,
                            help='backbones of cpu224')

    def run(self, args, progress: Progress) -> List[dict]:
        x = torch.randn(16, 3, 224, 224)
        rows, candidates = {}, {}
        for name in BASELINES + tuple(args.archs):
            def build(name=name):
                model = randomize_batchnorm(benchmark_backbone(name, img_size=224))
                rows[name] = dict(setting=self.name, model=name, params=count_params(model),
                                  macs=count_macs(model, (1, 3, 224, 224)),
                                  paper_img_per_s=PAPER_CPU.get(name))
                fast = deployed_copy(model)
                candidates[name] = lambda: fast(x)
                return f'{rows[name]["params"] / 1e6:.2f} M params'
            progress.step(f'cpu224: build {name}', build)
        medians = {}

        def time_them():
            medians.update(round_robin(candidates, 1, 1, args.reps, progress))
            return ', '.join(f'{n} {16 / s:.0f}' for n, s in medians.items()) + ' img/s'
        progress.step('cpu224: timing (1 thread, round-robin)', time_them)
        return [dict(row, img_per_s=16 / medians[name]) for name, row in rows.items()]

    def tables(self, rows):
        base = next((r['img_per_s'] for r in rows if r['model'] == 'mobilenetv2'), None)
        return [Table(
            'cpu224: 224x224, batch 16, 1 thread (img/s; ratio over MobileNetV2)',
            ('backbone', 'params (M)', 'MACs (G)', 'img/s', 'vs MobileNetV2', 'paper img/s'),
            [(r['model'], f'{r["params"] / 1e6:.2f}', f'{r["macs"] / 1e9:.2f}',
              f'{r["img_per_s"]:.1f}', ratio(r['img_per_s'], base),
              r['paper_img_per_s'] or '-') for r in rows])]
