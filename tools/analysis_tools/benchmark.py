"""Speed of the EfficientViT backbones and models against baselines measured in the same run.

    python tools/analysis_tools/benchmark.py                      # every CPU setting (~9 min)
    python tools/analysis_tools/benchmark.py --settings fastpath  # one setting
    python tools/analysis_tools/benchmark.py --settings gpu --device cuda

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
* ``gpu``      the paper's GPU protocol (224x224, largest power-of-two batch, fp16 autocast)
  and detector latency at 1333x800; needs ``--device cuda``.

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
import platform
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.config import Config

from mmevit import benchmark as bm
from mmevit.analysis import count_macs, count_params
from mmevit.apis import build_model
from mmevit.deploy import (compiled, deployed_copy, export_onnx, flatten, max_relative_error,
                           onnx_max_relative_error, onnx_session)
from mmevit.models import ARCHS, EfficientViTM, backbone_class, build_backbone
from mmevit.testing import detection_batch, randomize_batchnorm

REPO_ROOT = osp.join(osp.dirname(__file__), '..', '..')
M_ARCHS = tuple(EfficientViTM.arch_settings)
SETTINGS = ('cpu224', 'detection', 'fastpath', 'training', 'gpu')
# Published throughput at 224x224 (Liu et al., CVPR 2023): Xeon E5-2690 CPU, V100 GPU.
PAPER_CPU = {'m4': 88.5, 'mobilenetv2': 32.5}
PAPER_GPU = {'m4': 15914}
DETECTORS = {
    'RetinaNet': dict(m4='configs/retinanet_evit_m4_1x.py',
                      resnet50='configs/baselines/retinanet_r50_1x.py',
                      mobilenetv2='configs/baselines/retinanet_mobilenetv2_1x.py'),
    'Mask R-CNN': dict(m4='configs/mask_rcnn_evit_m4_1x.py',
                       resnet50='configs/baselines/mask_rcnn_r50_1x.py',
                       mobilenetv2='configs/baselines/mask_rcnn_mobilenetv2_1x.py'),
}


def benchmark_backbone(name: str, img_size: Optional[int] = None) -> nn.Module:
    """An EfficientViT (``m0``..``b3``) or mmdet baseline backbone, in eval mode.

    ``img_size`` set: M-series windows as the authors' ImageNet models have them at that size;
    otherwise the detection backbone's 7x7. Baselines (``mobilenetv2``, ``resnet50``) return
    their last stage only, like a classifier; EfficientViTs return every stage.
    """
    if name in ARCHS:
        kwargs = {}
        if img_size is not None and backbone_class(name) is EfficientViTM:
            kwargs['window_size'] = EfficientViTM.imagenet_window_sizes(img_size)
        return build_backbone(name, **kwargs).eval()
    from mmdet.models.backbones import MobileNetV2, ResNet
    baselines = dict(mobilenetv2=lambda: MobileNetV2(out_indices=(7, )),
                     resnet50=lambda: ResNet(depth=50, out_indices=(3, )))
    if name not in baselines:
        raise ValueError(f'Unknown backbone {name!r}; expected one of '
                         f'{list(ARCHS) + list(baselines)}')
    model = baselines[name]()
    model.eval()  # mmdet's MobileNetV2.train() returns None
    return model


def model_from_config(config: str, device: str = 'cpu') -> nn.Module:
    """A detector or segmentor from a project config, random weights, eval mode."""
    return build_model(Config.fromfile(osp.join(REPO_ROOT, config)), device)


def training_iteration(config: str, with_cp: bool, reps: int, device: str = 'cpu',
                       threads: int = 2) -> Dict[str, object]:
    """Time and peak-memory rise of ``reps`` training iterations (AdamW) of a detector config
    on 2 random 800x1333 images with one box each, after one warm-up iteration."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(config)
    cfg.model.backbone.with_cp = with_cp
    model = build_model(cfg, device).train()
    optim = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05)))
    data = detection_batch(800, 1333, batch_size=2, device=device, with_targets=True)
    timing = {}
    with bm.torch_threads(threads):
        model.train_step(data, optim)  # warm-up; also allocates the optimizer state
        peak = bm.peak_memory_during(lambda: timing.update(bm.median_time(
            lambda: model.train_step(data, optim), 0, reps, device)), device)
    return dict(iter_s=timing['median_s'], times_s=timing['times_s'],
                peak_memory_mib=peak / 2 ** 20)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--settings', nargs='+', choices=SETTINGS,
                        help='default: every CPU setting, plus gpu with --device cuda')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--archs', nargs='+', default=list(ARCHS), choices=ARCHS,
                        help='backbones of cpu224 and gpu')
    parser.add_argument('--fastpath-archs', nargs='+', default=list(M_ARCHS + ('b0', 'b1')),
                        choices=ARCHS,
                        help='backbones of the fastpath setting (b2/b3 take ~1 min each)')
    parser.add_argument('--onnx-archs', nargs='*', default=['m4', 'b1'], choices=ARCHS,
                        help='backbones also exported and timed with onnxruntime (fastpath)')
    parser.add_argument('--compile-archs', nargs='*', default=['m4', 'b1'], choices=ARCHS,
                        help='backbones also timed after torch.compile (fastpath; ~1 min each)')
    parser.add_argument('--profile-archs', nargs='*', default=['m4', 'b1'], choices=ARCHS,
                        help='backbones whose plain and fast CPU time is split by kind of op')
    parser.add_argument('--warmup', type=int, default=2,
                        help='warm-up rounds of the fastpath setting (cpu224 and detection: 1)')
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--det-reps', type=int, default=3, help='timed runs of each detector')
    parser.add_argument('--train-reps', type=int, default=1,
                        help='timed training iterations (after one warm-up iteration)')
    parser.add_argument('--out', default='work_dirs/benchmark/benchmark.json')
    parser.add_argument('--plot', default='work_dirs/benchmark/backbone_speed.png',
                        help='PNG of the cpu224 rows (empty: no plot)')
    return parser.parse_args()


class Progress:
    """Progress on stderr: ``[i/n] elapsed  what`` before each measurement, its result after."""

    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.time()

    def run(self, label: str, job: Callable) -> None:
        self.done += 1
        head = f'[{self.done}/{self.total}] {time.time() - self.start:5.0f}s'
        print(f'{head}  {label} ...', file=sys.stderr, flush=True)
        print(f'{" " * len(head)}  {job()}', file=sys.stderr, flush=True)


def machine() -> Dict[str, object]:
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    info = dict(cpu=cpu, cores=os.cpu_count(), torch=torch.__version__,
                python=platform.python_version())
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    return info


def round_robin_job(label: str, candidates: Dict[str, Callable], threads: int, warmup: int,
                    reps: int, finish: Callable[[Dict[str, float]], str]) -> tuple:
    """A job timing every registered candidate round-robin, then ``finish(medians)``."""
    def run():
        def on_round(i):
            print(f'    round {i}/{reps}', file=sys.stderr, flush=True)
        with bm.torch_threads(threads), torch.inference_mode():
            medians = bm.interleaved_median_times(candidates, warmup, reps, on_round)
        return finish(medians)
    return label, run


def cpu224_jobs(args, results) -> List[tuple]:
    """The paper's CPU protocol; ratio: img/s over MobileNetV2's."""
    names = ['mobilenetv2', 'resnet50'] + list(args.archs)
    candidates, rows = {}, {}
    x = torch.randn(16, 3, 224, 224)

    def build(name):
        def run():
            model = randomize_batchnorm(benchmark_backbone(name, img_size=224))
            rows[name] = dict(setting='cpu224', model=name, params=count_params(model),
                              macs=count_macs(model, (1, 3, 224, 224)),
                              paper_img_per_s=PAPER_CPU.get(name))
            fast = deployed_copy(model)
            candidates[name] = lambda: fast(x)
            return f'{rows[name]["params"] / 1e6:.2f} M params'
        return f'cpu224: build {name}', run

    def finish(medians):
        for name in names:
            results.append(dict(rows[name], img_per_s=16 / medians[name]))
        return ', '.join(f'{n} {16 / medians[n]:.0f}' for n in names) + ' img/s'
    return [build(n) for n in names] + [round_robin_job(
        'cpu224: timing (1 thread, round-robin)', candidates, 1, 1, args.reps, finish)]


def detection_jobs(args, results) -> List[tuple]:
    """Detector latency at 800x1333, batch 1, two threads; ratio: over the R50 detector."""
    candidates, rows = {}, {}
    data = detection_batch(800, 1333)
    jobs = []
    for detector, configs in DETECTORS.items():
        for backbone, config in configs.items():
            forms = ('plain', 'fast path') if backbone == 'm4' else ('fast path', )
            for form in forms:
                key = f'{detector}-{backbone} ({form})'

                def run(key=key, config=config, form=form, row=dict(
                        setting='detection', detector=detector, backbone=backbone, form=form,
                        config=config)):
                    model = model_from_config(config)
                    if form == 'fast path':
                        model = deployed_copy(model)
                    candidates[key] = lambda: model.test_step(data)
                    rows[key] = row
                    return 'built'
                jobs.append((f'detection: build {key}', run))

    def finish(medians):
        for key, row in rows.items():
            results.append(dict(row, latency_ms=1e3 * medians[key]))
        return ', '.join(f'{k} {1e3 * v:.0f} ms' for k, v in medians.items())
    return jobs + [round_robin_job('detection: timing (2 threads, round-robin)', candidates, 2,
                                   1, args.det_reps, finish)]


def fastpath_jobs(args, results) -> List[tuple]:
    """Plain module vs fast path (eager, compiled, onnxruntime) at 800x1344, two threads."""
    def job(name):
        def run():
            plain = randomize_batchnorm(benchmark_backbone(name))
            fast = deployed_copy(plain)
            x = torch.randn(1, 3, 800, 1344, generator=torch.Generator().manual_seed(0))
            row = dict(setting='fastpath', model=name)
            fns = {'plain': lambda: plain(x), 'fast': lambda: fast(x)}
            with bm.torch_threads(2), torch.inference_mode():
                expected = flatten(plain(x))
                row['max_rel_error'] = max_relative_error(flatten(fast(x)), expected)
                if name in args.profile_archs:
                    row['profile'] = {k: bm.profile_by_kind(fns[k]) for k in ('plain', 'fast')}
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
                    with bm.torch_threads(2):
                        row['onnx_max_rel_error'] = onnx_max_relative_error(session, plain, x)
                    feed = {'input': x.numpy()}
                    fns['onnx'] = lambda: session.run(None, feed)
                with bm.torch_threads(2), torch.inference_mode():
                    medians = bm.interleaved_median_times(fns, args.warmup, args.reps)
            row.update({f'{k}_ms': 1e3 * v for k, v in medians.items()})
            results.append(row)
            return f'fastpath: {name} ' + ', '.join(f'{k} {1e3 * v:.0f} ms'
                                                    for k, v in medians.items())
        return run
    return [(f'fastpath {n}', job(n)) for n in args.fastpath_archs]


def training_jobs(args, results) -> List[tuple]:
    """One RetinaNet-M4 training iteration with and without with_cp, each in a fresh process
    (comparable peak memory); ratio: over without."""
    config = osp.join(REPO_ROOT, DETECTORS['RetinaNet']['m4'])

    def job(with_cp):
        def run():
            row = bm.in_fresh_process(training_iteration, config, with_cp, args.train_reps,
                                      args.device)
            results.append(dict(row, setting='training', with_cp=with_cp))
            return (f'training: with_cp={with_cp} {row["iter_s"]:.2f} s/iter, peak memory '
                    f'+{row["peak_memory_mib"]:.0f} MiB')
        return run
    return [(f'training with_cp={cp}', job(cp)) for cp in (False, True)]


def gpu_jobs(args, results) -> List[tuple]:
    """The paper's GPU protocol for M0..M5 and detector latency; needs --device cuda."""
    def throughput(name):
        def run():
            model = deployed_copy(benchmark_backbone(name, img_size=224)).to(args.device)
            batch = 4096
            while True:  # the largest power of two that fits
                try:
                    x = torch.randn(batch, 3, 224, 224, device=args.device)
                    with torch.inference_mode(), torch.autocast('cuda', torch.float16):
                        t = bm.median_time(lambda: model(x), args.warmup, args.reps,
                                           args.device)
                    break
                except torch.cuda.OutOfMemoryError:
                    x = None
                    torch.cuda.empty_cache()
                    if batch == 1:
                        raise
                    batch //= 2
            results.append(dict(setting='gpu', model=name, batch=batch,
                                img_per_s=batch / t['median_s'],
                                paper_img_per_s=PAPER_GPU.get(name)))
            return f'gpu: {name} {batch / t["median_s"]:.0f} img/s (batch {batch})'
        return run

    def latency(detector, backbone, config):
        def run():
            model = deployed_copy(model_from_config(config, args.device))
            data = detection_batch(800, 1333, device=args.device)
            with torch.inference_mode():
                t = bm.median_time(lambda: model.test_step(data), args.warmup, args.reps,
                                   args.device)
            results.append(dict(setting='gpu', detector=detector, backbone=backbone,
                                latency_ms=1e3 * t['median_s']))
            return f'gpu: {detector}-{backbone} {1e3 * t["median_s"]:.1f} ms'
        return run
    jobs = [(f'gpu {n}', throughput(n)) for n in M_ARCHS if n in args.archs]
    for detector, configs in DETECTORS.items():
        jobs += [(f'gpu {detector}-{b}', latency(detector, b, c)) for b, c in configs.items()]
    return jobs


def ratio(value, base) -> str:
    return f'{value / base:.2f}x' if base else '-'


def print_tables(results: List[dict]) -> None:
    by = {s: [r for r in results if r['setting'] == s] for s in SETTINGS}
    if by['cpu224']:
        base = next((r['img_per_s'] for r in by['cpu224'] if r['model'] == 'mobilenetv2'), None)
        print('\n### cpu224: 224x224, batch 16, 1 thread (img/s; ratio over MobileNetV2)\n')
        print('| backbone | params (M) | MACs (G) | img/s | vs MobileNetV2 | paper img/s |')
        print('|---|---|---|---|---|---|')
        for r in by['cpu224']:
            paper = r['paper_img_per_s'] or '-'
            print(f'| {r["model"]} | {r["params"] / 1e6:.2f} | {r["macs"] / 1e9:.2f} | '
                  f'{r["img_per_s"]:.1f} | {ratio(r["img_per_s"], base)} | {paper} |')
    if by['detection']:
        print('\n### detection: one 800x1333 image, 2 threads (test_step latency; ratio: '
              'speed over the ResNet-50 detector)\n')
        print('| detector | backbone | form | latency (ms) | speed vs R50 |')
        print('|---|---|---|---|---|')
        for r in by['detection']:
            base = next((b['latency_ms'] for b in by['detection']
                         if b['detector'] == r['detector'] and b['backbone'] == 'resnet50'), None)
            print(f'| {r["detector"]} | {r["backbone"]} | {r["form"]} | {r["latency_ms"]:.0f} | '
                  f'{ratio(base, r["latency_ms"]) if base else "-"} |')
    if by['fastpath']:
        print('\n### fastpath: backbone at 800x1344, batch 1, 2 threads (ms; speed-ups over the '
              'plain module, timed round-robin)\n')
        print('| backbone | plain (ms) | fast path (ms) | speed-up | + torch.compile (ms) | '
              'speed-up | onnxruntime (ms) | speed-up | max rel. error (fast / compiled / ONNX) |')
        print('|---|---|---|---|---|---|---|---|---|')
        for r in by['fastpath']:
            cells = [r['model'], f'{r["plain_ms"]:.0f}']
            for key in ('fast', 'compiled', 'onnx'):
                ms = r.get(f'{key}_ms')
                cells += [f'{ms:.0f}', ratio(r['plain_ms'], ms)] if ms else ['-', '-']
            errors = [r.get(k) for k in ('max_rel_error', 'compiled_max_rel_error',
                                         'onnx_max_rel_error')]
            cells.append(' / '.join(f'{e:.0e}' if e is not None else '-' for e in errors))
            print('| ' + ' | '.join(cells) + ' |')
    profiled = [r for r in by['fastpath'] if 'profile' in r]
    if profiled:
        kinds = list(profiled[0]['profile']['plain'])
        print('\n### where the time goes: share of CPU time by kind of op (torch.profiler, one '
              'call, fastpath input)\n')
        print('| backbone | form | ' + ' | '.join(kinds) + ' |')
        print('|---|---|' + '---|' * len(kinds))
        for r in profiled:
            for form in ('plain', 'fast'):
                shares = r['profile'][form]
                print(f'| {r["model"]} | {form} | '
                      + ' | '.join(f'{100 * shares[k]:.0f}%' for k in kinds) + ' |')
    if by['training']:
        base = next((r for r in by['training'] if not r['with_cp']), None)
        print('\n### training: one RetinaNet-M4 iteration, 2 images of 800x1333, 2 threads '
              '(ratio over with_cp=False)\n')
        print('| with_cp | s/iter | time ratio | peak memory rise (MiB) | memory ratio |')
        print('|---|---|---|---|---|')
        for r in by['training']:
            print(f'| {r["with_cp"]} | {r["iter_s"]:.2f} | '
                  f'{ratio(r["iter_s"], base and base["iter_s"])} | '
                  f'{r["peak_memory_mib"]:.0f} | '
                  f'{ratio(r["peak_memory_mib"], base and base["peak_memory_mib"])} |')
    if by['gpu']:
        print('\n### gpu: 224x224 fp16 autocast, largest power-of-two batch; detectors at '
              '1333x800\n')
        for r in by['gpu']:
            if 'model' in r:
                paper = r['paper_img_per_s']
                print(f'| {r["model"]} | batch {r["batch"]} | {r["img_per_s"]:.0f} img/s | '
                      f'paper (V100) {paper or "-"} | {ratio(r["img_per_s"], paper)} |')
            else:
                print(f'| {r["detector"]}-{r["backbone"]} | {r["latency_ms"]:.1f} ms |')


def plot(results: List[dict], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [r for r in results if r['setting'] == 'cpu224']
    if not rows:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], 'params', 'params (M)'), (axes[1], 'macs', 'MACs (G)')):
        for family, marker in (('m', 'o'), ('b', 's'), ('', '^')):
            sel = [r for r in rows if (r['model'][0] == family and r['model'][1:].isdigit())
                   or (not family and not r['model'][1:].isdigit())]
            scale = 1e6 if key == 'params' else 1e9
            xs = [r[key] / scale for r in sel]
            ys = [r['img_per_s'] for r in sel]
            ax.plot(xs, ys, marker, linestyle='-' if family else '', label={
                'm': 'EfficientViT-M', 'b': 'EfficientViT-B', '': 'mmdet baselines'}[family])
            for r, x_, y_ in zip(sel, xs, ys):
                ax.annotate(r['model'], (x_, y_), textcoords='offset points', xytext=(4, 4),
                            fontsize=8)
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xlabel(label)
        ax.set_ylabel('img/s (224x224, batch 16, 1 CPU thread)')
        ax.grid(True, which='both', alpha=0.3)
    axes[0].legend()
    fig.suptitle(f'Backbone throughput on {machine()["cpu"]} (tools/analysis_tools/benchmark.py)', fontsize=9)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def main():
    args = parse_args()
    settings = args.settings or [s for s in SETTINGS if s != 'gpu' or args.device != 'cpu']
    if 'gpu' in settings and not (args.device.startswith('cuda') and torch.cuda.is_available()):
        raise SystemExit('The gpu setting needs --device cuda and a visible CUDA device')
    builders = dict(cpu224=cpu224_jobs, detection=detection_jobs, fastpath=fastpath_jobs,
                    training=training_jobs, gpu=gpu_jobs)
    results: List[dict] = []
    jobs = [job for s in settings for job in builders[s](args, results)]
    progress = Progress(len(jobs))
    for label, job in jobs:
        progress.run(label, job)
    print_tables(results)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(dict(machine=machine(), args=vars(args), results=results), f, indent=1)
    print(f'\nwrote {args.out}')
    if args.plot and any(r['setting'] == 'cpu224' for r in results):
        plot(results, args.plot)
        print(f'wrote {args.plot}')


if __name__ == '__main__':
    main()
