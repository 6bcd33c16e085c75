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

Candidates of a setting are timed round-robin, one call of each in turn (a shared machine's
slow phases then hit all of them), and medians of ``--reps`` rounds (``--det-reps`` for
detectors, ``--train-reps`` for training) after warm-up are reported. The tables are printed as
markdown, and everything goes to ``--out`` (JSON) with the machine's description; ``--plot``
draws backbone speed against params and MACs from the ``cpu224`` rows.
"""
import argparse
import copy
import importlib.util
import json
import os
import os.path as osp
import platform
import sys
import tempfile
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.config import Config

from mmevit import benchmark as bm
from mmevit.analysis import count_macs, count_params
from mmevit.apis import build_model
from mmevit.deploy import (TensorForward, compiled, deployed_copy, export_onnx, fast_path,
                           flatten, max_relative_error, onnx_max_relative_error, onnx_session)
from mmevit.models import ARCHS, EfficientViTM, backbone_class, build_backbone
from mmevit.testing import detection_batch, randomize_batchnorm, segmentation_batch

REPO_ROOT = osp.join(osp.dirname(__file__), '..')
M_ARCHS = tuple(EfficientViTM.arch_settings)
SETTINGS = ('cpu224', 'detection', 'fastpath', 'training', 'kernels', 'gpu')
# Published throughput at 224x224 (Liu et al., CVPR 2023): Xeon E5-2690 CPU, V100 GPU.
PAPER_CPU = {'m4': 88.5, 'mobilenetv2': 32.5}
PAPER_GPU = {'m4': 15914}
DETECTORS = {
    'RetinaNet': dict(m4='configs/retinanet_evit_m4_1x.py',
                      b1='configs/retinanet_evit_b1_1x.py',
                      l1='configs/retinanet_evit_l1_1x.py',
                      resnet50='configs/baselines/retinanet_r50_1x.py',
                      mobilenetv2='configs/baselines/retinanet_mobilenetv2_1x.py'),
    'Mask R-CNN': dict(m4='configs/mask_rcnn_evit_m4_1x.py',
                       b1='configs/mask_rcnn_evit_b1_1x.py',
                       l1='configs/mask_rcnn_evit_l1_1x.py',
                       resnet50='configs/baselines/mask_rcnn_r50_1x.py',
                       mobilenetv2='configs/baselines/mask_rcnn_mobilenetv2_1x.py'),
}
DETECTOR_NAMES = [f'{d}-{b}' for d, configs in DETECTORS.items() for b in configs]
# B- and L-series segmentors at the protocols' sizes: ADE20K 512x512, Cityscapes 1024x2048
SEGMENTORS = {f'{arch}-ade20k': (f'configs/efficientvit_seg_{arch}_ade20k.py', (512, 512))
              for arch in ('b1', 'b2', 'b3', 'l1', 'l2')}
SEGMENTORS.update({f'{arch}-cityscapes': (f'configs/efficientvit_seg_{arch}_cityscapes.py',
                                          (1024, 2048))
                   for arch in ('b0', 'b1', 'b2', 'b3', 'l1', 'l2')})
# inference forms: eager; the fast path; the fast path with its backbone compiled (CUDA graphs
# on GPUs), or with backbone, neck and dense heads compiled; each also under fp16 autocast
INFERENCE_FORMS = ('eager', 'fast path', 'fast path fp16', 'compiled', 'compiled fp16',
                   'compiled all', 'compiled all fp16')
TRAINING_FORMS = ('eager', 'compiled', 'amp', 'compiled amp')
# COCO 1x: 117266 train2017 images with annotations, 16 per iteration, 12 epochs
COCO_1X_ITERATIONS = 12 * -(-117266 // 16)


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

    from mmevit.apis import setup_compile
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
    with bm.torch_threads(threads):
        start = time.perf_counter()
        model.train_step(data, optim)  # also allocates the optimizer state; compiles
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        row['first_iter_s'] = time.perf_counter() - start
        for _ in range(warmup - 1):
            model.train_step(data, optim)
        peak = bm.peak_memory_during(lambda: timing.update(bm.median_time(
            lambda: model.train_step(data, optim), 0, reps, device)), device)
    return dict(row, iter_s=timing['median_s'], times_s=timing['times_s'],
                peak_memory_mib=peak / 2 ** 20)


def gradient_vector(model: nn.Module, data: dict) -> torch.Tensor:
    """Every parameter's gradient of one training loss, flattened (then cleared)."""
    model.zero_grad()
    batch = model.data_preprocessor(data, True)
    loss, _ = model.parse_losses(model(**batch, mode='loss'))
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    model.zero_grad()
    return grads


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--settings', nargs='+', choices=SETTINGS,
                        help='default: every CPU setting, plus gpu with --device cuda')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--archs', nargs='+', default=list(ARCHS), choices=ARCHS,
                        help='backbones of cpu224')
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
    parser.add_argument('--det-backbones', nargs='+', default=['m4', 'resnet50', 'mobilenetv2'],
                        choices=['m4', 'b1', 'l1', 'resnet50', 'mobilenetv2'],
                        help='backbones of the (CPU) detection setting')
    parser.add_argument('--kernel-archs', nargs='+', default=['m4', 'b1'], choices=ARCHS,
                        help='backbones of the kernels setting')
    parser.add_argument('--kernel-forms', nargs='+', default=['plain', 'fast path', 'compiled'],
                        choices=['plain', 'fast path', 'compiled'])
    gpu = parser.add_argument_group('the gpu setting (ratios over eager ResNet-50 detectors)')
    gpu.add_argument('--gpu-detectors', nargs='*', default=DETECTOR_NAMES,
                     choices=DETECTOR_NAMES, help='detectors timed at --det-size, batch 1')
    gpu.add_argument('--gpu-forms', nargs='+', default=list(INFERENCE_FORMS),
                     choices=INFERENCE_FORMS, help='inference forms (eager is always timed)')
    gpu.add_argument('--gpu-segmentors', nargs='*', default=list(SEGMENTORS),
                     choices=list(SEGMENTORS), help='B-series segmentors, batch 1')
    gpu.add_argument('--gpu-archs', nargs='*', default=list(ARCHS), choices=ARCHS,
                     help='backbones of the 224x224 fp16 throughput rows (timm too, if there)')
    gpu.add_argument('--train-detectors', nargs='*', default=DETECTOR_NAMES,
                     choices=DETECTOR_NAMES, help='detectors of the training rows')
    gpu.add_argument('--train-forms', nargs='+', default=list(TRAINING_FORMS),
                     choices=TRAINING_FORMS)
    gpu.add_argument('--det-size', type=int, nargs=2, default=[800, 1333], metavar=('H', 'W'))
    gpu.add_argument('--seg-size', type=int, nargs=2, metavar=('H', 'W'),
                     help='one size for every segmentor instead of its protocol\'s')
    gpu.add_argument('--max-batch', type=int, default=4096,
                     help='first batch tried by the throughput rows (halved until it fits)')
    gpu.add_argument('--gpu-warmup', type=int, default=5)
    gpu.add_argument('--gpu-reps', type=int, default=20)
    gpu.add_argument('--gpu-train-reps', type=int, default=10)
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
            if backbone not in args.det_backbones:
                continue
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
            row = bm.in_fresh_process(training_iteration, config, args.train_reps,
                                      args.device, 2, with_cp)
            results.append(dict(row, setting='training', with_cp=with_cp))
            return (f'training: with_cp={with_cp} {row["iter_s"]:.2f} s/iter, peak memory '
                    f'+{row["peak_memory_mib"]:.0f} MiB')
        return run
    return [(f'training with_cp={cp}', job(cp)) for cp in (False, True)]


def kernels_jobs(args, results) -> List[tuple]:
    """Kernels per backbone forward (batch 1, 800x1344): plain, fast path, compiled fast
    path (:func:`mmevit.benchmark.count_kernels`; on a CPU, the aten ops that would launch
    a kernel each on a GPU, and inductor's generated kernels)."""
    def job(name):
        def run():
            import torch._inductor.config as inductor_config
            plain = randomize_batchnorm(benchmark_backbone(name)).to(args.device)
            fast = deployed_copy(plain)
            x = torch.randn(1, 3, 800, 1344, device=args.device)
            forms = {'plain': plain, 'fast path': fast}
            with inductor_config.patch({'cpp.enable_kernel_profile': True}):
                with torch.inference_mode():
                    if 'compiled' in args.kernel_forms:
                        forms['compiled'] = torch.compile(fast, mode='reduce-overhead')
                        forms['compiled'](x)  # compiles
                    counts = {form: bm.count_kernels(lambda m=m: m(x), args.device)
                              for form, m in forms.items() if form in args.kernel_forms}
            for form, by_name in counts.items():
                top = dict(sorted(by_name.items(), key=lambda kv: -kv[1])[:8])
                results.append(dict(setting='kernels', model=name, form=form,
                                    device=args.device, kernels=sum(by_name.values()),
                                    top=top))
            return f'kernels: {name} ' + ', '.join(f'{f} {sum(c.values())}'
                                                   for f, c in counts.items())
        return run
    return [(f'kernels {n}', job(n)) for n in args.kernel_archs]


def inference_form(model: nn.Module, form: str) -> nn.Module:
    """``model`` (a fresh copy) turned into one of :data:`INFERENCE_FORMS`, in place."""
    from mmevit.deploy import NETWORK_MODULES, compile_model, half_precision
    if form != 'eager':
        fast_path(model)
    if form.endswith('fp16'):
        half_precision(model)
    if form.startswith('compiled'):
        compile_model(model, NETWORK_MODULES if form.startswith('compiled all')
                      else ('backbone', ))
    return model


def latency_job(args, results, kind, name, config, size, form) -> tuple:
    """Median ``test_step`` latency of one model in one form, and the largest relative error
    of its network's raw outputs (head scores and box deltas, or logits) against eager's;
    the first form timed for a model is eager."""
    def run():
        torch.manual_seed(0)  # the same random weights in every form
        model = inference_form(model_from_config(config, args.device), form)
        if kind == 'detector':
            data = detection_batch(*size, device=args.device)
        else:
            data = segmentation_batch(*size, device=args.device)
        with torch.inference_mode():
            start = time.perf_counter()
            model.test_step(data)  # compiles and records CUDA graphs in the compiled forms
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()
            first_s = time.perf_counter() - start
            t = bm.median_time(lambda: model.test_step(data), args.gpu_warmup, args.gpu_reps,
                               args.device)
            inputs = model.data_preprocessor(data, False)['inputs']
            outputs = [o.float().clone() for o in flatten(TensorForward(model)(inputs))]
        eager = reference_outputs.setdefault((kind, name), outputs)
        results.append(dict(setting='gpu', measure='latency', kind=kind, model=name, form=form,
                            size=list(size), latency_ms=1e3 * t['median_s'],
                            first_call_s=first_s,
                            max_rel_error=max_relative_error(outputs, eager)))
        return f'gpu: {name} {form} {1e3 * t["median_s"]:.1f} ms (first call {first_s:.1f} s)'
    return f'gpu {kind} {name} ({form})', run


reference_outputs: Dict[tuple, List[torch.Tensor]] = {}


def gpu_jobs(args, results) -> List[tuple]:
    """The GPU setting: detector and segmentor latency in every inference form, backbone
    throughput at 224 (fp16) against timm, training iterations; needs --device cuda
    (--device cpu runs the same code, for checking it)."""
    jobs = []
    forms = ['eager'] + [f for f in args.gpu_forms if f != 'eager']
    for name in args.gpu_detectors:
        detector, backbone = name.rsplit('-', 1)
        config = DETECTORS[detector][backbone]
        jobs += [latency_job(args, results, 'detector', name, config, args.det_size, form)
                 for form in forms]
    for name in args.gpu_segmentors:
        config, size = SEGMENTORS[name]
        size = args.seg_size or size
        jobs += [latency_job(args, results, 'segmentor', name, config, size, form)
                 for form in forms if 'all' not in form]

    def throughput(name, source):
        def run():
            if source == 'timm':
                import timm
                model = timm.create_model(f'efficientvit_{name}', pretrained=False).eval()
            else:
                model = deployed_copy(benchmark_backbone(name, img_size=224))
            model = model.to(args.device)
            batch = args.max_batch
            while True:  # the largest power of two that fits
                try:
                    x = torch.randn(batch, 3, 224, 224, device=args.device)
                    half = torch.float16 if args.device.startswith('cuda') else torch.bfloat16
                    with torch.inference_mode(), torch.autocast(args.device, half):
                        t = bm.median_time(lambda: model(x), args.gpu_warmup, args.gpu_reps,
                                           args.device)
                    break
                except torch.cuda.OutOfMemoryError:
                    x = None
                    torch.cuda.empty_cache()
                    if batch == 1:
                        raise
                    batch //= 2
            results.append(dict(setting='gpu', measure='throughput', model=name,
                                source=source, batch=batch, img_per_s=batch / t['median_s'],
                                paper_img_per_s=PAPER_GPU.get(name)))
            return f'gpu: {source} {name} {batch / t["median_s"]:.0f} img/s (batch {batch})'
        return run
    sources = ('mmevit', 'timm') if importlib.util.find_spec('timm') else ('mmevit', )
    jobs += [(f'gpu throughput {s} {n}', throughput(n, s)) for n in args.gpu_archs
             for s in sources]

    def training(name, form):
        def run():
            detector, backbone = name.rsplit('-', 1)
            row = training_iteration(osp.join(REPO_ROOT, DETECTORS[detector][backbone]),
                                     args.gpu_train_reps, args.device, torch.get_num_threads(),
                                     compiled='compiled' in form, amp='amp' in form,
                                     warmup=args.gpu_warmup, size=args.det_size)
            results.append(dict(row, setting='gpu', measure='training', model=name, form=form,
                                projected_1x_hours=COCO_1X_ITERATIONS * row['iter_s'] / 3600))
            return (f'gpu: train {name} {form} {row["iter_s"] * 1e3:.1f} ms/iter, peak memory '
                    f'+{row["peak_memory_mib"]:.0f} MiB')
        return run
    jobs += [(f'gpu train {n} ({f})', training(n, f)) for n in args.train_detectors
             for f in args.train_forms]
    return jobs


def ratio(value, base) -> str:
    return f'{value / base:.2f}x' if value and base else '-'


def print_table(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """One markdown table under a ``###`` title."""
    print(f'\n### {title}\n')
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    for row in rows:
        print('| ' + ' | '.join(str(cell) for cell in row) + ' |')


def print_tables(results: List[dict]) -> None:
    by = {s: [r for r in results if r['setting'] == s] for s in SETTINGS}
    if by['cpu224']:
        base = next((r['img_per_s'] for r in by['cpu224'] if r['model'] == 'mobilenetv2'), None)
        print_table(
            'cpu224: 224x224, batch 16, 1 thread (img/s; ratio over MobileNetV2)',
            ('backbone', 'params (M)', 'MACs (G)', 'img/s', 'vs MobileNetV2', 'paper img/s'),
            ((r['model'], f'{r["params"] / 1e6:.2f}', f'{r["macs"] / 1e9:.2f}',
              f'{r["img_per_s"]:.1f}', ratio(r['img_per_s'], base),
              r['paper_img_per_s'] or '-') for r in by['cpu224']))
    if by['detection']:
        def r50_latency(detector):
            return next((b['latency_ms'] for b in by['detection']
                         if b['detector'] == detector and b['backbone'] == 'resnet50'), None)
        print_table(
            'detection: one 800x1333 image, 2 threads (test_step latency; ratio: speed over the '
            'ResNet-50 detector)',
            ('detector', 'backbone', 'form', 'latency (ms)', 'speed vs R50'),
            ((r['detector'], r['backbone'], r['form'], f'{r["latency_ms"]:.0f}',
              ratio(r50_latency(r['detector']), r['latency_ms'])) for r in by['detection']))
    if by['fastpath']:
        def fastpath_row(r):
            cells = [r['model'], f'{r["plain_ms"]:.0f}']
            for key in ('fast', 'compiled', 'onnx'):
                ms = r.get(f'{key}_ms')
                cells += [f'{ms:.0f}', ratio(r['plain_ms'], ms)] if ms else ['-', '-']
            errors = [r.get(k) for k in ('max_rel_error', 'compiled_max_rel_error',
                                         'onnx_max_rel_error')]
            return cells + [' / '.join(f'{e:.0e}' if e is not None else '-' for e in errors)]
        print_table(
            'fastpath: backbone at 800x1344, batch 1, 2 threads (ms; speed-ups over the plain '
            'module, timed round-robin)',
            ('backbone', 'plain (ms)', 'fast path (ms)', 'speed-up', '+ torch.compile (ms)',
             'speed-up', 'onnxruntime (ms)', 'speed-up',
             'max rel. error (fast / compiled / ONNX)'),
            (fastpath_row(r) for r in by['fastpath']))
    profiled = [r for r in by['fastpath'] if 'profile' in r]
    if profiled:
        kinds = list(profiled[0]['profile']['plain'])
        print_table(
            'where the time goes: share of CPU time by kind of op (torch.profiler, one call, '
            'fastpath input)',
            ('backbone', 'form', *kinds),
            ((r['model'], form, *(f'{100 * r["profile"][form][k]:.0f}%' for k in kinds))
             for r in profiled for form in ('plain', 'fast')))
    if by['training']:
        base = next((r for r in by['training'] if not r['with_cp']), None)
        print_table(
            'training: one RetinaNet-M4 iteration, 2 images of 800x1333, 2 threads (ratio over '
            'with_cp=False)',
            ('with_cp', 's/iter', 'time ratio', 'peak memory rise (MiB)', 'memory ratio'),
            ((r['with_cp'], f'{r["iter_s"]:.2f}', ratio(r['iter_s'], base and base['iter_s']),
              f'{r["peak_memory_mib"]:.0f}',
              ratio(r['peak_memory_mib'], base and base['peak_memory_mib']))
             for r in by['training']))
    if by['kernels']:
        def plain_kernels(model):
            return next(b['kernels'] for b in by['kernels']
                        if b['model'] == model and b['form'] == 'plain')
        print_table(
            'kernels: one backbone forward, batch 1, 800x1344 (kernels launched; on a CPU the '
            'aten ops that each launch one on a GPU, and inductor\'s generated kernels)',
            ('backbone', 'device', 'form', 'kernels', 'vs plain', 'most frequent'),
            ((r['model'], r['device'], r['form'], r['kernels'],
              f'{r["kernels"] / plain_kernels(r["model"]):.2f}x',
              ', '.join(f'{k} {n}' for k, n in list(r['top'].items())[:4]))
             for r in by['kernels']))
    print_gpu_tables(by['gpu'])


def print_gpu_tables(rows: List[dict]) -> None:
    """The gpu setting: every speed ratio over an eager ResNet-50 detector (or the eager
    segmentor) of the same run."""
    def pick(measure, **match):
        return [r for r in rows if r['measure'] == measure
                and all(r.get(k) == v for k, v in match.items())]

    def eager_r50(measure, name):
        detector = name.rsplit('-', 1)[0]
        base = pick(measure, model=f'{detector}-resnet50', form='eager')
        return base[0] if base else None

    def speed_over(key, r, base):
        return ratio(base and base[key], r[key])

    detectors = pick('latency', kind='detector')
    if detectors:
        print_table(
            'gpu: detector inference, one image, test_step latency (speed over the eager '
            'ResNet-50 detector)',
            ('detector', 'form', 'latency (ms)', 'first call (s)', 'speed vs eager R50',
             'max rel. output error vs eager'),
            ((r['model'], r['form'], f'{r["latency_ms"]:.1f}', f'{r["first_call_s"]:.1f}',
              speed_over('latency_ms', r, eager_r50('latency', r['model'])),
              f'{r["max_rel_error"]:.1e}') for r in detectors))
    segmentors = pick('latency', kind='segmentor')
    if segmentors:
        print_table(
            'gpu: B/L-series segmentors, one image (speed over the eager segmentor)',
            ('segmentor', 'size', 'form', 'latency (ms)', 'first call (s)', 'speed vs eager',
             'max rel. logit error vs eager'),
            ((r['model'], f'{r["size"][0]}x{r["size"][1]}', r['form'], f'{r["latency_ms"]:.1f}',
              f'{r["first_call_s"]:.1f}',
              speed_over('latency_ms', r,
                         pick('latency', kind='segmentor', model=r['model'], form='eager')[0]),
              f'{r["max_rel_error"]:.1e}') for r in segmentors))
    throughput = pick('throughput')
    if throughput:
        def vs_timm(r):
            timm = pick('throughput', model=r['model'], source='timm')
            return ratio(r['img_per_s'], timm[0]['img_per_s']) if timm else '-'
        print_table(
            'gpu: backbone throughput, 224x224, fp16 autocast, largest power-of-two batch '
            '(ratio over timm\'s implementation where timm is installed)',
            ('backbone', 'implementation', 'batch', 'img/s', 'vs timm', 'paper (V100) img/s'),
            ((r['model'], r['source'], r['batch'], f'{r["img_per_s"]:.0f}', vs_timm(r),
              r['paper_img_per_s'] or '-') for r in throughput))
    training = pick('training')
    if training:
        print_table(
            'gpu: detector training, 2 images per iteration, AdamW (speed over the eager '
            'ResNet-50 detector; 1x: 12 COCO epochs at 16 images per iteration, 8 GPUs)',
            ('detector', 'form', 'ms/iter', 'first iteration (s)', 'peak memory (MiB)',
             'speed vs eager R50', 'gradient rel. diff vs eager', 'projected 1x (h)'),
            ((r['model'], r['form'], f'{1e3 * r["iter_s"]:.1f}', f'{r["first_iter_s"]:.1f}',
              f'{r["peak_memory_mib"]:.0f}',
              speed_over('iter_s', r, eager_r50('training', r['model'])),
              '-' if r.get('grad_rel_error') is None else f'{r["grad_rel_error"]:.1e}',
              f'{r["projected_1x_hours"]:.1f}') for r in training))


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
    settings = args.settings or [s for s in SETTINGS if s != 'gpu' or args.device != 'cpu']
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda needs a visible CUDA device')
    if 'gpu' in settings and args.device == 'cpu':
        print('Running the gpu setting on the CPU: it checks the code; its numbers are no GPU '
              'figures', file=sys.stderr)
    builders = dict(cpu224=cpu224_jobs, detection=detection_jobs, fastpath=fastpath_jobs,
                    training=training_jobs, kernels=kernels_jobs, gpu=gpu_jobs)
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
