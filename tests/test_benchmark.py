"""The generic measurements behind the benchmark (mmevit/benchmark/measure.py): what they return,
never how fast anything is."""
import numpy as np
import pytest
import torch

from mmevit.benchmark import measure as bm


def test_median_time_and_thread_control():
    calls = []
    t = bm.median_time(lambda: calls.append(1), warmup=2, reps=3)
    assert len(calls) == 5 and len(t['times_s']) == 3
    assert t['median_s'] == sorted(t['times_s'])[1]
    old = torch.get_num_threads()
    with bm.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == old
    with pytest.raises(ValueError, match='reps'):
        bm.median_time(lambda: None, 0, 0)


def test_interleaved_times_run_round_robin():
    order = []
    medians = bm.interleaved_median_times({'a': lambda: order.append('a'),
                                           'b': lambda: order.append('b')}, warmup=1, reps=2)
    assert order == ['a', 'b', 'a', 'b', 'a', 'b'] and set(medians) == {'a', 'b'}


def _allocate_and_measure(mib):
    def allocate():
        buf = np.ones(mib * 2 ** 20 // 8)  # touched, then freed
        return float(buf.sum())
    return bm.peak_memory_during(allocate if mib else (lambda: None))


def test_peak_memory_sees_a_temporary_allocation():
    # fresh processes: a used heap may hand back resident pages without raising the RSS
    rise = bm.in_fresh_process(_allocate_and_measure, 64)
    assert 60 * 2 ** 20 <= rise < 200 * 2 ** 20
    assert bm.in_fresh_process(_allocate_and_measure, 0) < 16 * 2 ** 20


def test_profile_by_kind_splits_the_time():
    conv = torch.nn.Conv2d(8, 8, 3)
    x = torch.randn(1, 8, 64, 64)
    shares = bm.profile_by_kind(lambda: torch.relu(conv(x)) + 1)
    assert set(shares) == set(bm.OP_KINDS) | {'other'}
    assert abs(sum(shares.values()) - 1) < 1e-6
    assert shares['convolution / matmul'] > 0 and shares['element-wise'] > 0


def test_count_kernels_counts_work_not_views():
    conv = torch.nn.Conv2d(8, 8, 3, padding=1)
    x = torch.randn(1, 8, 16, 16)
    with torch.inference_mode():
        kernels = bm.count_kernels(
            lambda: (torch.relu(conv(x)).permute(0, 2, 3, 1).reshape(1, -1) * 0.5).contiguous())
    # one convolution (whichever CPU backend runs it), relu, the copy that reshape makes of
    # the permuted view, the scalar multiply; permute is a view and the scalar's 0-dim
    # wrapping happens on the host
    convolutions = {k: n for k, n in kernels.items() if 'conv' in k}
    assert list(convolutions.values()) == [1]
    assert {k: n for k, n in kernels.items() if k not in convolutions} == {
        'clamp_min': 1, 'copy_': 1, 'mul': 1}
