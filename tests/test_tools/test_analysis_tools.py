"""tools/benchmark.py and tools/analysis_tools/get_flops.py: the benchmark's tables and JSON
(no timing is asserted) and the params/MACs rows of get_flops."""
import json
import os.path as osp

import torch

from conftest import check, run_tool
from mmevit.models import EfficientViTM


def test_benchmark_fastpath_writes_ratios(tmp_path):
    out = str(tmp_path / 'bench.json')
    text = check(run_tool('benchmark.py', '--settings', 'fastpath',
                          '--fastpath-archs', 'm0', 'b0', '--onnx-archs', 'm0',
                          '--compile-archs', 'm0', '--warmup', '0', '--reps', '1', '--out', out,
                          '--plot', ''))
    assert '| m0 |' in text and '| b0 |' in text and 'speed-up' in text
    assert '[2]' in text and 'fastpath b0 ...' in text  # the progress display
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
    text = check(run_tool('benchmark.py', '--settings', 'cpu224', '--archs', 'm0',
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
    assert '| `efficientvit_seg_b0_cityscapes.py` | 1024x1024 | 0.71 | 2.2 | 75.65 mIoU |' in text


def test_benchmark_gpu_and_kernels_settings_run_on_cpu(tmp_path):
    # the GPU protocol's code, run small on the CPU: tables with headers, rows, ratios
    out = str(tmp_path / 'gpu.json')
    text = check(run_tool(
        'benchmark.py', '--settings', 'kernels', 'gpu', '--device', 'cpu',
        '--kernel-archs', 'm0', '--kernel-forms', 'plain', 'fast path',
        '--gpu-detectors', 'RetinaNet-m4', 'RetinaNet-resnet50', '--gpu-forms', 'fast path',
        'fast path fp16', '--gpu-segmentors', 'b0-cityscapes', '--seg-size', '64', '128',
        '--gpu-archs', 'm0', '--max-batch', '2', '--train-detectors', 'RetinaNet-m4',
        'RetinaNet-resnet50', '--train-forms', 'eager', 'amp', '--det-size', '128', '160',
        '--gpu-warmup', '1', '--gpu-reps', '1', '--gpu-train-reps', '1', '--out', out,
        '--plot', ''))
    for header in ('| backbone | device | form | kernels |', '| detector | form | latency (ms) |',
                   '| segmentor | size | form |', '| backbone | implementation | batch |',
                   '| detector | form | ms/iter |'):
        assert header in text
    with open(out) as f:
        rows = json.load(f)['results']
    latency = {(r['model'], r['form']): r for r in rows if r.get('measure') == 'latency'}
    assert set(latency) == {(m, f) for m in ('RetinaNet-m4', 'RetinaNet-resnet50',
                                             'b0-cityscapes')
                            for f in ('eager', 'fast path', 'fast path fp16')}
    for (model, form), row in latency.items():
        bound = {'eager': 0, 'fast path': 1e-4, 'fast path fp16': 0.1}[form]
        assert row['max_rel_error'] <= bound, (model, form)
    assert '| RetinaNet-resnet50 | eager |' in text and '| 1.00x |' in text
    training = [r for r in rows if r.get('measure') == 'training']
    assert {(r['model'], r['form']) for r in training} == {
        ('RetinaNet-m4', 'eager'), ('RetinaNet-m4', 'amp'), ('RetinaNet-resnet50', 'eager'),
        ('RetinaNet-resnet50', 'amp')}
    assert all(r['projected_1x_hours'] == 87960 * r['iter_s'] / 3600 for r in training)
    kernels = {r['form']: r['kernels'] for r in rows if r['setting'] == 'kernels'}
    assert kernels['fast path'] < kernels['plain']
