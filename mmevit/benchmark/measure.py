"""Generic measurements behind the benchmark settings: timing, threads, peak
memory, where the time goes, how many kernels a call launches.

Every timing is the median of ``reps`` runs after ``warmup`` runs; on a GPU each run ends
with a synchronisation.
"""
import contextlib
import statistics
import time
from collections import Counter
from typing import Callable, Dict, Iterator, List, Optional

import torch


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


# aten ops that launch no kernel: views, allocations, metadata
_NO_KERNEL = frozenset((
    'empty', 'empty_like', 'empty_strided', 'resize_', 'view', '_unsafe_view', 'as_strided',
    'as_strided_', 'expand', 'transpose', 'permute', 'slice', 'select', 'alias', 'detach', 't',
    'unsqueeze', 'squeeze', 'lift_fresh', '_reshape_alias', 'split', 'split_with_sizes',
    'chunk', 'narrow', 'unbind', 'flatten', 'reshape', 'view_as', 'unflatten', 'set_',
    'result_type', 'is_nonzero', 'item', '_local_scalar_dense', 'contiguous', 'to', 'size',
    'stride', 'dim', 'numel', 'resolve_conj', 'resolve_neg', '_nnpack_available'))


def _is_backend_convolution(name: str) -> bool:
    """mkldnn_convolution, _slow_conv2d_forward, cudnn_convolution...: one kernel whatever
    it calls beneath (bias copies, im2col buffers)."""
    return 'conv' in name and name not in _CONV_WRAPPERS


_CONV_WRAPPERS = frozenset(('conv1d', 'conv2d', 'conv3d', 'convolution', '_convolution',
                            'conv_transpose2d', 'thnn_conv2d'))


def count_kernels(fn: Callable[[], object], device: str = 'cpu') -> Dict[str, int]:
    """Kernels one call of ``fn`` launches, by name (torch.profiler).

    CUDA: the device kernels the profiler records. CPU: a backend convolution counts once;
    elsewhere the lowest aten ops that do work (not a view, an allocation, metadata, or
    arithmetic on host scalars) count, so ``pad`` counts as its ``fill_`` and ``copy_``; on
    a GPU each of those is a kernel launch. Code generated by ``torch.compile`` on a CPU
    counts one per generated kernel call, if it was compiled with
    ``torch._inductor.config.cpp.enable_kernel_profile`` set (otherwise only the aten calls
    it makes count).
    """
    from torch.profiler import ProfilerActivity, profile
    if device.startswith('cuda'):
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
        names = [e.name for e in prof.events() if e.device_type.name == 'CUDA']
        return dict(Counter(names))
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        fn()

    def kernels(event) -> List[str]:
        name = event.name.replace('aten::', '', 1)
        if not event.name.startswith('aten::'):  # inductor: graph_<i>_cpp_fused_...
            if '_cpp_fused_' in name:
                return [name]
        elif _is_backend_convolution(name):
            return [name]
        below = [k for child in event.cpu_children for k in kernels(child)]
        if below or not event.name.startswith('aten::') or name in _NO_KERNEL:
            return below
        # a Python scalar in arithmetic becomes a 0-dim tensor on the host
        return [name] if any(shape for shape in event.input_shapes) else []

    roots = [e for e in prof.events() if e.cpu_parent is None]
    return dict(Counter(k for root in roots for k in kernels(root)))
