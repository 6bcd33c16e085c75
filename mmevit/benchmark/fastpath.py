"""Backbones at 800x1344 on two threads: the plain module against its fast path (same
weights), the compiled fast path and onnxruntime on the exported fast path; max relative
errors; for some, the CPU time split by kind of op (torch.profiler)."""
import os.path as osp
import tempfile
import time
from typing import List

import torch

from mmevit.benchmark import measure
from mmevit.benchmark.base import Progress, Setting, Table, ratio
from mmevit.benchmark.subjects import M_ARCHS, benchmark_backbone
from mmevit.deploy import (compiled, deployed_copy, export_onnx, flatten, max_relative_error,
                           onnx_max_relative_error, onnx_session)
from mmevit.models import ARCHS
from mmevit.testing import randomize_batchnorm


class FastPath(Setting):
    name = 'fastpath'

    @staticmethod
    def add_arguments(parser):
        parser.add_argument('--fastpath-archs', nargs='+', default=list(M_ARCHS + ('b0', 'b1')),
                            choices=ARCHS,
                            help='backbones of the fastpath setting (b2/b3 take ~1 min each)')
        parser.add_argument('--onnx-archs', nargs='*', default=['m4', 'b1'], choices=ARCHS,
                            help='backbones also exported and timed with onnxruntime')
        parser.add_argument('--compile-archs', nargs='*', default=['m4', 'b1'], choices=ARCHS,
                            help='backbones also timed after torch.compile (~1 min each)')
        parser.add_argument('--profile-archs', nargs='*', default=['m4', 'b1'], choices=ARCHS,
                            help='backbones whose plain and fast CPU time is split by kind of op')
        parser.add_argument('--warmup', type=int, default=2,
                            help='warm-up rounds of the fastpath setting (cpu224, detection: 1)')

    def run(self, args, progress: Progress) -> List[dict]:
        rows = []
        for name in args.fastpath_archs:
            def measure_one(name=name):
                rows.append(self.measure(name, args))
                return f'fastpath: {name} ' + ', '.join(
                    f'{k[:-3]} {v:.0f} ms' for k, v in rows[-1].items() if k.endswith('_ms'))
            progress.step(f'fastpath {name}', measure_one)
        return rows

    def measure(self, name: str, args) -> dict:
        plain = randomize_batchnorm(benchmark_backbone(name))
        fast = deployed_copy(plain)
        x = torch.randn(1, 3, 800, 1344, generator=torch.Generator().manual_seed(0))
        row = dict(setting=self.name, model=name)
        fns = {'plain': lambda: plain(x), 'fast': lambda: fast(x)}
        with measure.torch_threads(2), torch.inference_mode():
            expected = flatten(plain(x))
            row['max_rel_error'] = max_relative_error(flatten(fast(x)), expected)
            if name in args.profile_archs:
                row['profile'] = {k: measure.profile_by_kind(fns[k]) for k in ('plain', 'fast')}
            if name in args.compile_archs:
                fast_compiled = compiled(fast)
                start = time.perf_counter()
                got = flatten(fast_compiled(x))
                row['compile_s'] = time.perf_counter() - start
                row['compiled_max_rel_error'] = max_relative_error(got, expected)
                fns['compiled'] = lambda: fast_compiled(x)
        with tempfile.TemporaryDirectory() as tmp:
            if name in args.onnx_archs:
                path = osp.join(tmp, f'{name}.onnx')
                export_onnx(fast, x, path)
                session = onnx_session(path, num_threads=2)
                with measure.torch_threads(2):
                    row['onnx_max_rel_error'] = onnx_max_relative_error(session, plain, x)
                feed = {'input': x.numpy()}
                fns['onnx'] = lambda: session.run(None, feed)
            with measure.torch_threads(2), torch.inference_mode():
                medians = measure.interleaved_median_times(fns, args.warmup, args.reps)
        row.update({f'{k}_ms': 1e3 * v for k, v in medians.items()})
        return row

    def tables(self, rows):
        def cells(r):
            out = [r['model'], f'{r["plain_ms"]:.0f}']
            for key in ('fast', 'compiled', 'onnx'):
                ms = r.get(f'{key}_ms')
                out += [f'{ms:.0f}', ratio(r['plain_ms'], ms)] if ms else ['-', '-']
            errors = [r.get(k) for k in ('max_rel_error', 'compiled_max_rel_error',
                                         'onnx_max_rel_error')]
            return out + [' / '.join(f'{e:.0e}' if e is not None else '-' for e in errors)]
        tables = [Table(
            'fastpath: backbone at 800x1344, batch 1, 2 threads (ms; speed-ups over the plain '
            'module, timed round-robin)',
            ('backbone', 'plain (ms)', 'fast path (ms)', 'speed-up', '+ torch.compile (ms)',
             'speed-up', 'onnxruntime (ms)', 'speed-up',
             'max rel. error (fast / compiled / ONNX)'),
            [cells(r) for r in rows])]
        profiled = [r for r in rows if 'profile' in r]
        if profiled:
            kinds = list(profiled[0]['profile']['plain'])
            tables.append(Table(
                'where the time goes: share of CPU time by kind of op (torch.profiler, one '
                'call, fastpath input)',
                ('backbone', 'form', *kinds),
                [(r['model'], form, *(f'{100 * r["profile"][form][k]:.0f}%' for k in kinds))
                 for r in profiled for form in ('plain', 'fast')]))
        return tables
