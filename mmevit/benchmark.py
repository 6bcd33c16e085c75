"""Measurements behind ``tools/benchmark.py``: timing, threads, peak memory, model builders.

Every timing is the median of ``reps`` runs after ``warmup`` runs, under
``torch.inference_mode`` for inference; on a GPU each run ends with a synchronisation.
"""
import contextlib
import statistics
import time
from typing import Callable, Dict, Iterator, List, Optional

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmevit.models.backbones.efficientvit_b import EfficientViTB
from mmevit.models.backbones.efficientvit_m import EfficientViT

M_ARCHS = ('m0', 'm1', 'm2', 'm3', 'm4', 'm5')
B_ARCHS = ('b0', 'b1', 'b2', 'b3')


def median_time(fn: Callable[[], object], warmup: int, reps: int,
                device: str = 'cpu') -> Dict[str, object]:
    """Seconds per call of ``fn``: ``{'median_s', 'times_s'}`` over ``reps`` timed calls."""
    if reps < 1:
        raise ValueError(f'reps must be >= 1, got {reps}')

    def run():
        fn()
        if device.startswith('cuda'):
            torch.cuda.synchronize()

    for _ in range(warmup):
        run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return dict(median_s=statistics.median(times), times_s=times)


def interleaved_median_times(fns: Dict[str, Callable[[], object]], warmup: int, reps: int,
                             on_round: Optional[Callable[[int], None]] = None
                             ) -> Dict[str, float]:
    """Median seconds per call of each function, timed round-robin.

    Alternating the candidates spreads slow phases of a shared machine (other tenants,
    frequency changes) over all of them, so their ratios are steadier than back-to-back runs.
    ``on_round(i)`` is called after each of the ``reps`` rounds (progress display).
    """
    if reps < 1:
        raise ValueError(f'reps must be >= 1, got {reps}')
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for i in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        if on_round is not None:
            on_round(i + 1)
    return {name: statistics.median(t) for name, t in times.items()}


@contextlib.contextmanager
def torch_threads(num_threads: int) -> Iterator[None]:
    """Run the block with ``num_threads`` intra-op threads, then restore the old setting."""
    old = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'/proc/self/status has no {field}')


def peak_memory_during(fn: Callable[[], object], device: str = 'cpu') -> int:
    """Bytes the process's peak memory rises above its level before ``fn`` runs.

    CPU: resident set size (Linux: the high-water mark is reset through
    ``/proc/self/clear_refs``); memory the allocator already holds is reused without showing,
    so compare measurements made in fresh processes (:func:`in_fresh_process`). GPU:
    ``torch.cuda.max_memory_allocated``.
    """
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset VmHWM to the current RSS
    before = _status_kib('VmRSS')
    fn()
    return (_status_kib('VmHWM') - before) * 1024


def in_fresh_process(fn: Callable, *args):
    """``fn(*args)`` in a newly spawned interpreter, for memory measurements.

    A process's allocator reuses pages freed by earlier work without raising the resident set,
    so a peak-memory rise is only comparable between measurements that each start clean.
    """
    import multiprocessing
    with multiprocessing.get_context('spawn').Pool(1) as pool:
        return pool.apply(fn, args)


def training_iteration(config: str, with_cp: bool, reps: int, device: str = 'cpu',
                       threads: int = 2) -> Dict[str, object]:
    """Time and peak-memory rise of ``reps`` training iterations (AdamW) of a detector config
    on 2 random 800x1333 images with one box each, after one warm-up iteration."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    from mmevit.apis import build_model
    cfg = Config.fromfile(config)
    cfg.model.backbone.with_cp = with_cp
    model = build_model(cfg, device).train()
    optim = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05)))
    data = detection_batch(800, 1333, batch_size=2, device=device, with_targets=True)
    timing = {}
    with torch_threads(threads):
        model.train_step(data, optim)  # warm-up; also allocates the optimizer state
        peak = peak_memory_during(lambda: timing.update(median_time(
            lambda: model.train_step(data, optim), 0, reps, device)), device)
    return dict(iter_s=timing['median_s'], times_s=timing['times_s'],
                peak_memory_mib=peak / 2 ** 20)


@torch.no_grad()
def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters.

    Fresh BatchNorms are identities and the residual branches of EfficientViT start at zero
    (zero-initialised BN scales), which would make a fast-path check compare little more
    than the identity. The values keep activations of the order of one through the depth.
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.weight.copy_(torch.rand(n, generator=g) * 0.3 + 0.2)
            m.bias.copy_(torch.randn(n, generator=g) * 0.05)
    for name, p in model.named_parameters():
        if name.endswith('attention_biases'):
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model


def build_backbone(name: str, img_size: Optional[int] = None) -> nn.Module:
    """An EfficientViT (``m0``..``m5``, ``b0``..``b3``) or mmdet baseline backbone, in eval mode.

    ``img_size`` set: M-series windows as the authors' ImageNet models have them at that size
    (``min(7, side)`` per stage, i.e. 7, 7, 4 at 224); otherwise the detection backbone's 7x7.
    Baselines (``mobilenetv2``, ``resnet50``) return their last stage only, like a classifier.
    """
    if name in M_ARCHS:
        window = 7
        if img_size is not None:
            window = [min(7, -(-img_size // (16 * 2 ** i))) for i in range(3)]
        return EfficientViT(name, window_size=window, out_indices=(0, 1, 2)).eval()
    if name in B_ARCHS:
        return EfficientViTB(name, out_indices=(0, 1, 2, 3)).eval()
    from mmdet.models.backbones import MobileNetV2, ResNet
    baselines = dict(mobilenetv2=lambda: MobileNetV2(out_indices=(7, )),
                     resnet50=lambda: ResNet(depth=50, out_indices=(3, )))
    if name in baselines:
        model = baselines[name]()
        model.eval()  # mmdet's MobileNetV2.train() returns None
        return model
    raise ValueError(f'Unknown backbone {name!r}; expected one of '
                     f'{list(M_ARCHS + B_ARCHS) + ["mobilenetv2", "resnet50"]}')


def build_from_config(path: str, device: str = 'cpu') -> nn.Module:
    """A detector or segmentor from a project config, random weights, eval mode."""
    from mmengine.config import Config

    from mmevit.apis import build_model
    return build_model(Config.fromfile(path), device)


def detection_batch(height: int, width: int, batch_size: int = 1, device: str = 'cpu',
                    with_targets: bool = False, seed: int = 0) -> dict:
    """A ``test_step``/``train_step`` input of random uint8 images (and one box each)."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, height, width), generator=g,
                                    dtype=torch.uint8).to(device))
        sample = DetDataSample(metainfo=dict(img_shape=(height, width),
                                             ori_shape=(height, width), scale_factor=(1., 1.)))
        if with_targets:
            gt = InstanceData()
            gt.bboxes = torch.tensor([[0.2 * width, 0.2 * height, 0.6 * width, 0.7 * height]],
                                     device=device)
            gt.labels = torch.tensor([0], device=device)
            mask = torch.zeros(1, height, width, dtype=torch.bool)
            mask[:, int(0.2 * height):int(0.7 * height), int(0.2 * width):int(0.6 * width)] = 1
            gt.masks = BitmapMasks(mask.numpy(), height, width)
            sample.gt_instances = gt
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


# aten ops by the kind of work they do (self CPU time of torch.profiler)
OP_KINDS = {
    'convolution / matmul': ('convolution', 'conv2d', 'bmm', 'mm', 'addmm', 'linear', 'matmul'),
    'batch norm': ('batch_norm', ),
    'element-wise': ('clamp', 'relu', 'add', 'mul', 'div', 'sub', 'sigmoid', 'hardswish',
                     'softmax', 'pow', 'mean', 'sum', 'where'),
    'reshape / copy / pad': ('copy_', 'cat', 'clone', 'contiguous', 'pad', 'permute',
                             'reshape', 'view', 'slice', 'index', 'split', 'chunk'),
}


def profile_by_kind(fn: Callable[[], object]) -> Dict[str, float]:
    """Share of one call's CPU time per kind of op (:data:`OP_KINDS`, the rest as 'other')."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    totals: Dict[str, float] = {kind: 0. for kind in list(OP_KINDS) + ['other']}
    for event in prof.key_averages():
        if not event.key.startswith('aten::'):
            continue
        name = event.key[len('aten::'):]
        kind = next((k for k, words in OP_KINDS.items() if any(w in name for w in words)),
                    'other')
        totals[kind] += event.self_cpu_time_total
    whole = sum(totals.values()) or 1.
    return {kind: t / whole for kind, t in totals.items()}

