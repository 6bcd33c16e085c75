"""tools/deployment/deploy.py: detectors and segmentors through mmdeploy to onnxruntime models
with their post-processing (NMS in the graph), checked against PyTorch on a shapes image.
Runs in .venv-deploy (``make deploy-venv``, which ``make test`` builds)."""
import os.path as osp
import subprocess

import pytest
import torch
from mmengine.config import Config

from conftest import REPO_ROOT
from mmevit.models import build_model

DEPLOY_PYTHON = osp.join(REPO_ROOT, '.venv-deploy', 'bin', 'python')
pytestmark = pytest.mark.skipif(not osp.isfile(DEPLOY_PYTHON),
                                reason='no .venv-deploy: make deploy-venv')


def checkpoint(config, path):
    # seeded fresh weights (not yet the trained demo checkpoints: that is what is left)
    torch.manual_seed(0)
    model = build_model(Config.fromfile(osp.join(REPO_ROOT, config)))
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


@pytest.mark.parametrize('deploy, config, score_thr', [
    ('detection_onnxruntime_static.py', 'configs/demo/retinanet_evit_m4_shapes.py', 0.3),
    ('instance-seg_onnxruntime_dynamic.py', 'configs/demo/mask_rcnn_evit_m4_shapes.py', 0.0),
    ('segmentation_onnxruntime_dynamic.py', 'configs/demo/efficientvit_seg_b1_shapes.py', None),
    ('segmentation_onnxruntime_static.py', 'configs/demo/fpn_evit_m4_shapes_seg.py', None),
])
def test_end_to_end_onnxruntime_model_equals_pytorch(deploy, config, score_thr, shapes_root,
                                                     tmp_path):
    ckpt = checkpoint(config, tmp_path / 'model.pth')
    work = str(tmp_path / 'deploy')
    image = osp.join(shapes_root, 'images', 'val', '000000.png')
    args = [DEPLOY_PYTHON, osp.join(REPO_ROOT, 'tools', 'deployment', 'deploy.py'),
            osp.join(REPO_ROOT, 'configs', 'deploy', deploy), osp.join(REPO_ROOT, config), ckpt,
            image, '--work-dir', work]
    if score_thr is not None:
        args += ['--score-thr', str(score_thr)]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(osp.join(work, 'end2end.onnx'))
    if score_thr is None:
        assert "label map equals PyTorch's" in last
    else:
        count = int(last.split(': ')[1].split()[0])
        assert count > 0 and f"detections above {score_thr} equal PyTorch's" in last
    import onnx
    graph = onnx.load(osp.join(work, 'end2end.onnx')).graph
    if score_thr is not None:  # post-processing in the graph: NMS, outputs dets and labels
        assert any(n.op_type == 'NonMaxSuppression' for n in graph.node)
        assert [o.name for o in graph.output][:2] == ['dets', 'labels']


def test_deployment_benchmark_rows(tmp_path):
    out = str(tmp_path / 'deployment.json')
    proc = subprocess.run([DEPLOY_PYTHON, osp.join(REPO_ROOT, 'tools', 'benchmark.py'),
                           '--settings', 'deployment', '--deploy-detectors', 'RetinaNet-m4',
                           '--deploy-size', '128', '160', '--det-reps', '1', '--out', out,
                           '--plot', ''], capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '| RetinaNet-m4 | 128x160 | onnxruntime |' in proc.stdout
    import json
    with open(out) as f:
        rows = json.load(f)['results']
    assert [r['form'] for r in rows] == ['eager', 'fast path', 'onnxruntime']
    assert all(r['latency_ms'] > 0 for r in rows)
