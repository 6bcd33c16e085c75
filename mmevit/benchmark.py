"""Generic measurements behind ``tools/analysis_tools/benchmark.py``: timing, threads, peak
memory, where the time goes.

Every timing is the median of ``reps`` runs after ``warmup`` runs; on a GPU each run ends
with a synchronisation.
"""
import contextlib
import statistics
import time
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

