"""tools/analysis_tools: the benchmark's tables and JSON (no timing is asserted) and the
params/MACs rows of get_flops."""
import json
import os.path as osp

import torch

from conftest import check, run_tool
from mmevit.models import EfficientViTM


def test_benchmark_fastpath_writes_ratios(tmp_path):
    out = str(tmp_path / 'bench.json')
    text = check(run_tool('analysis_tools/benchmark.py', '--settings', 'fastpath',
                          '--fastpath-archs', 'm0', 'b0', '--onnx-archs', 'm0',
                          '--compile-archs', 'm0', '--warmup', '0', '--reps', '1', '--out', out,
                          '--plot', ''))
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
    text = check(run_tool('analysis_tools/benchmark.py', '--settings', 'cpu224', '--archs', 'm0',
                          '--reps', '1', '--out', out, '--plot', plot))
    assert '| mobilenetv2 | 2.22 |' in text and '1.00x' in text and 'round 1/1' in text
    with open(out) as f:
        rows = {r['model']: r for r in json.load(f)['results']}
    assert set(rows) == {'mobilenetv2', 'resnet50', 'm0'}
    # the authors' ImageNet windows at 224 (7, 7, 4): 4x4 bias tables in stage 3
    imagenet_m0 = EfficientViTM('m0', window_size=EfficientViTM.imagenet_window_sizes(224))
    assert rows['m0']['params'] == sum(p.numel() for p in imagenet_m0.parameters())
    assert rows['mobilenetv2']['paper_img_per_s'] == 32.5
    assert all(r['img_per_s'] > 0 and r['macs'] > 0 for r in rows.values())
    assert osp.getsize(plot) > 10_000


def test_get_flops_rows():
    text = check(run_tool('analysis_tools/get_flops.py', '--archs', 'm0', 'm4'))
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:]}
    assert rows['m0'] == ['2.35', '2.35', '79.2', '79']
    assert rows['m4'] == ['8.80', '8.80', '299.3', '299']
    text = check(run_tool('analysis_tools/get_flops.py', '--configs',
                          'configs/efficientvit_seg_b0_cityscapes.py'))
    assert '| `efficientvit_seg_b0_cityscapes.py` | 512x1024 | 0.71 | 1.1 | 75.7 mIoU |' in text
