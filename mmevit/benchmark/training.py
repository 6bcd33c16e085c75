"""One RetinaNet-M4 training iteration (2 images of 800x1333, AdamW) with and without
``with_cp``, each in a fresh process: time and the rise of peak memory; ratio: over
without. :func:`training_iteration` also serves the gpu setting."""
import copy
import time
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
from mmengine.config import Config

from mmevit.benchmark import measure
from mmevit.benchmark.base import Progress, Setting, Table, ratio
from mmevit.benchmark.subjects import detector_config
from mmevit.models import build_model
from mmevit.testing import detection_batch


def gradient_vector(model: nn.Module, data: dict) -> torch.Tensor:
    """Every parameter's gradient of one training loss, flattened (then cleared)."""
    model.zero_grad()
    batch = model.data_preprocessor(data, True)
    loss, _ = model.parse_losses(model(**batch, mode='loss'))
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    model.zero_grad()
    return grads


def training_iteration(config: str, reps: int, device: str = 'cpu', threads: int = 2,
                       with_cp: bool = False, compiled: bool = False, amp: bool = False,
                       warmup: int = 1, size: Sequence[int] = (800, 1333)
                       ) -> Dict[str, object]:
    """Time and peak-memory rise of ``reps`` training iterations (AdamW) of a detector config
    on 2 random images with one box each, after ``warmup`` iterations (the first one
    compiles; its time is reported). ``compiled``: the backbone compiled as by ``--compile``
    (fixed batch shapes, CUDA graphs on GPUs), and the relative difference of one step's
    gradients from eager's, float32, same weights. ``amp``: fp16 with loss scaling on GPUs,
    bfloat16 on CPUs, as ``--amp``."""
    from mmengine.optim import build_optim_wrapper

    from mmevit.cli import setup_compile
    from mmevit.deploy import compile_model
    cfg = Config.fromfile(config)
    cfg.model.backbone.with_cp = with_cp
    if compiled:
        setup_compile(cfg)
    torch.manual_seed(0)  # the same random weights in every form
    model = build_model(cfg, device).train()
    data = detection_batch(*size, batch_size=2, device=device, with_targets=True)
    row = {}
    if compiled:
        eager = copy.deepcopy(model)
        compile_model(model)
        grads = [gradient_vector(m, data) for m in (eager, model)]
        row['grad_rel_error'] = float((grads[1] - grads[0]).norm() / grads[0].norm())
        del eager
    wrapper = 'OptimWrapper'
    if amp:
        wrapper = 'AmpOptimWrapper' if device.startswith('cuda') else 'BF16AutocastOptimWrapper'
    optim = build_optim_wrapper(model, dict(
        type=wrapper, optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05)))
    timing = {}
    with measure.torch_threads(threads):
        start = time.perf_counter()
        model.train_step(data, optim)  # also allocates the optimizer state; compiles
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        row['first_iter_s'] = time.perf_counter() - start
        for _ in range(warmup - 1):
            model.train_step(data, optim)
        peak = measure.peak_memory_during(lambda: timing.update(measure.median_time(
            lambda: model.train_step(data, optim), 0, reps, device)), device)
    return dict(row, iter_s=timing['median_s'], times_s=timing['times_s'],
                peak_memory_mib=peak / 2 ** 20)


class Training(Setting):
    name = 'training'

    @staticmethod
    def add_arguments(parser):
        parser.add_argument('--train-reps', type=int, default=1,
                            help='timed training iterations (after one warm-up iteration)')

    def run(self, args, progress: Progress) -> List[dict]:
        rows = []
        for with_cp in (False, True):
            def one(with_cp=with_cp):
                row = measure.in_fresh_process(training_iteration,
                                               detector_config('RetinaNet-m4'),
                                               args.train_reps, args.device, 2, with_cp)
                rows.append(dict(row, setting=self.name, with_cp=with_cp))
                return (f'training: with_cp={with_cp} {row["iter_s"]:.2f} s/iter, peak memory '
                        f'+{row["peak_memory_mib"]:.0f} MiB')
            progress.step(f'training with_cp={with_cp}', one)
        return rows

    def tables(self, rows):
        base = next((r for r in rows if not r['with_cp']), None)
        return [Table(
            'training: one RetinaNet-M4 iteration, 2 images of 800x1333, 2 threads (ratio over '
            'with_cp=False)',
            ('with_cp', 's/iter', 'time ratio', 'peak memory rise (MiB)', 'memory ratio'),
            [(r['with_cp'], f'{r["iter_s"]:.2f}', ratio(r['iter_s'], base and base['iter_s']),
              f'{r["peak_memory_mib"]:.0f}',
              ratio(r['peak_memory_mib'], base and base['peak_memory_mib'])) for r in rows])]
