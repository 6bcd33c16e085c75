"""Kernels one backbone forward launches (torch.profiler): plain, fast path and compiled, for
M4 and B1 at 800x1344 (on a CPU: the aten ops that would each launch one on a GPU, and
inductor's generated kernels)."""
from typing import List

import torch

from mmevit.benchmark import measure
from mmevit.benchmark.base import Progress, Setting, Table, ratio
from mmevit.benchmark.subjects import benchmark_backbone
from mmevit.deploy import deployed_copy
from mmevit.models import ARCHS
from mmevit.testing import randomize_batchnorm

FORMS = ('plain', 'fast path', 'compiled')


class Kernels(Setting):
    name = 'kernels'

    @staticmethod
    def add_arguments(parser):
        parser.add_argument('--kernel-archs', nargs='+', default=['m4', 'b1'], choices=ARCHS,
                            help='backbones of the kernels setting')
        parser.add_argument('--kernel-forms', nargs='+', default=list(FORMS), choices=FORMS)

    def run(self, args, progress: Progress) -> List[dict]:
        rows = []
        for name in args.kernel_archs:
            def count(name=name):
                new = self.count(name, args)
                rows.extend(new)
                return f'kernels: {name} ' + ', '.join(f'{r["form"]} {r["kernels"]}' for r in new)
            progress.step(f'kernels {name}', count)
        return rows

    def count(self, name: str, args) -> List[dict]:
        import torch._inductor.config as inductor_config
        plain = randomize_batchnorm(benchmark_backbone(name)).to(args.device)
        forms = {'plain': plain, 'fast path': deployed_copy(plain)}
        x = torch.randn(1, 3, 800, 1344, device=args.device)
        with inductor_config.patch({'cpp.enable_kernel_profile': True}), torch.inference_mode():
            if 'compiled' in args.kernel_forms:
                forms['compiled'] = torch.compile(forms['fast path'], mode='reduce-overhead')
                forms['compiled'](x)  # compiles
            counts = {form: measure.count_kernels(lambda m=m: m(x), args.device)
                      for form, m in forms.items() if form in args.kernel_forms}
        return [dict(setting=self.name, model=name, form=form, device=args.device,
                     kernels=sum(by_name.values()),
                     top=dict(sorted(by_name.items(), key=lambda kv: -kv[1])[:8]))
                for form, by_name in counts.items()]

    def tables(self, rows):
        def plain_kernels(model):
            return next((b['kernels'] for b in rows
                         if b['model'] == model and b['form'] == 'plain'), None)
        return [Table(
            'kernels: one backbone forward, batch 1, 800x1344 (kernels launched; on a CPU the '
            'aten ops that each launch one on a GPU, and inductor\'s generated kernels)',
            ('backbone', 'device', 'form', 'kernels', 'vs plain', 'most frequent'),
            [(r['model'], r['device'], r['form'], r['kernels'],
              ratio(r['kernels'], plain_kernels(r['model'])),
              ', '.join(f'{k} {n}' for k, n in list(r['top'].items())[:4])) for r in rows])]
