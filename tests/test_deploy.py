"""The inference fast path equals the plain modules; ONNX exports match PyTorch; the benchmark
tool's measurements behave (no timing is asserted)."""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import REPO_ROOT
from mmevit import benchmark as bm
from mmevit.deploy import (NetworkWithoutNMS, deployed_copy, export_onnx, flatten,
                           max_relative_error, onnx_max_relative_error, onnx_session)
from mmevit.models.backbones.efficientvit_m import CascadedGroupAttention
from test_tools import check, run_tool

ARCHS = bm.M_ARCHS + bm.B_ARCHS


def image(h, w, seed=0):
    return torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize('arch', ARCHS)
def test_fast_path_equals_plain(arch):
    plain = bm.randomize_batchnorm(bm.build_backbone(arch))
    fast = deployed_copy(plain)
    assert not any(isinstance(m, _BatchNorm) for m in fast.modules())
    convs = [m for m in fast.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    if arch.startswith('m'):
        attns = [m for m in fast.modules() if isinstance(m, CascadedGroupAttention)]
        assert attns and all(m.deployed_bias is not None for m in attns)
    # 100x150: windows padded at every stage, maps smaller than a window in the last ones
    for x in (image(100, 150), image(224, 224, seed=1)):
        with torch.no_grad():
            expected, got = plain(x), fast(x)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert a.shape == b.shape and a.is_contiguous()  # the usual layout for necks
            assert max_relative_error([a], [b]) < 1e-4


def test_fast_path_leaves_plain_model_and_is_idempotent_on_detectors():
    model = bm.build_from_config(osp.join(REPO_ROOT, 'configs/retinanet_evit_m4_1x.py'))
    bm.randomize_batchnorm(model)
    before = copy.deepcopy(model.state_dict())
    fast = deployed_copy(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(isinstance(m, _BatchNorm) for m in fast.modules())
    x = image(128, 160)
    with torch.no_grad():
        err = max_relative_error(flatten(NetworkWithoutNMS(fast)(x)),
                                    flatten(NetworkWithoutNMS(model)(x)))
    assert err < 1e-4


@pytest.mark.parametrize('arch', ['m4', 'b1'])
def test_onnx_backbone_matches_pytorch(arch, tmp_path):
    plain = bm.randomize_batchnorm(bm.build_backbone(arch))
    x = image(100, 150)
    path = str(tmp_path / f'{arch}.onnx')
    names = export_onnx(deployed_copy(plain), x, path)
    assert len(names) == len(plain.out_indices)
    assert onnx_max_relative_error(onnx_session(path), plain, x) < 1e-4


@pytest.mark.parametrize('config', ['configs/retinanet_evit_m4_1x.py',
                                    'configs/mask_rcnn_evit_m4_1x.py',
                                    'configs/demo/efficientvit_seg_b1_shapes.py'])
def test_onnx_network_without_nms_matches_pytorch(config, tmp_path):
    model = bm.randomize_batchnorm(bm.build_from_config(osp.join(REPO_ROOT, config)))
    network = NetworkWithoutNMS(model)
    x = image(128, 160)
    path = str(tmp_path / 'model.onnx')
    export_onnx(deployed_copy(network), x, path)
    assert onnx_max_relative_error(onnx_session(path), network, x) < 1e-4


@pytest.mark.parametrize('size', [(4, 5), (16, 20)])  # quadratic and linear attention
def test_onnx_keeps_the_linear_attention_epsilon(size, tmp_path):
    from mmevit.models.backbones.efficientvit_b import LiteMLA
    attn = LiteMLA(64, 64).eval()
    with torch.no_grad():
        attn.qkv.conv.weight[:64] = -attn.qkv.conv.weight[:64].abs()  # every q <= 0 ...
    x = torch.rand(1, 64, *size)  # ... for positive inputs: the normaliser is 0 + eps
    path = str(tmp_path / 'attn.onnx')
    export_onnx(attn, x, path)
    with torch.no_grad():
        assert torch.isfinite(attn(x)).all()
    assert onnx_max_relative_error(onnx_session(path), attn, x) < 1e-4


def test_export_tool_from_official_checkpoint(official_checkpoint, tmp_path):
    out = str(tmp_path / 'm0.onnx')
    text = check(run_tool('export_onnx.py', '--arch', 'm0', '--checkpoint',
                          official_checkpoint('efficientvit_m0'), '--shape', '96', '128',
                          '--out', out))
    assert osp.isfile(out) and 'max relative error' in text
    error = float(text.split('max relative error')[1].split()[0])
    assert error < 1e-4


def test_export_tool_refuses_missing_checkpoint(tmp_path):
    out = str(tmp_path / 'm0.onnx')
    proc = run_tool('export_onnx.py', '--arch', 'm0', '--checkpoint', 'nowhere.pth',
                    '--out', out)
    assert proc.returncode != 0 and 'nowhere.pth' in proc.stderr
    assert not osp.exists(out)


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


def test_benchmark_tool_writes_ratios(tmp_path):
    out = str(tmp_path / 'bench.json')
    text = check(run_tool('benchmark.py', '--settings', 'fastpath', '--fastpath-archs', 'm0', 'b0',
                          '--onnx-archs', 'm0', '--compile-archs', 'm0', '--warmup', '0',
                          '--reps', '1', '--out', out, '--plot', ''))
    assert '| m0 |' in text and '| b0 |' in text and 'speed-up' in text
    assert '[2/2]' in text  # the progress display
    with open(out) as f:
        report = json.load(f)
    assert report['machine']['torch'] == torch.__version__
    rows = {r['model']: r for r in report['results']}
    assert set(rows) == {'m0', 'b0'}
    for key in ('max_rel_error', 'onnx_max_rel_error', 'compiled_max_rel_error'):
        assert rows['m0'][key] < 1e-4
    assert all(r['plain_ms'] > 0 and r['fast_ms'] > 0 for r in rows.values())
    assert rows['m0']['compiled_ms'] > 0 and rows['m0']['onnx_ms'] > 0
    assert 'onnx_ms' not in rows['b0'] and 'compiled_ms' not in rows['b0']


def test_benchmark_cpu_protocol_rows_and_plot(tmp_path):
    out, plot = str(tmp_path / 'bench.json'), str(tmp_path / 'speed.png')
    text = check(run_tool('benchmark.py', '--settings', 'cpu224', '--archs', 'm0', '--reps', '1',
                          '--out', out, '--plot', plot))
    assert '| mobilenetv2 | 2.22 |' in text and '1.00x' in text and 'round 1/1' in text
    with open(out) as f:
        rows = {r['model']: r for r in json.load(f)['results']}
    assert set(rows) == {'mobilenetv2', 'resnet50', 'm0'}
    assert rows['m0']['params'] == sum(
        p.numel() for p in bm.build_backbone('m0', img_size=224).parameters())
    assert rows['mobilenetv2']['paper_img_per_s'] == 32.5
    assert all(r['img_per_s'] > 0 and r['macs'] > 0 for r in rows.values())
    assert osp.getsize(plot) > 10_000
