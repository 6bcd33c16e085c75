"""tools/train.py, tools/test.py and tools/dist_train.sh with --compile (the compiled path:
CompileHook and batches of fixed shapes), on the generated shapes data.

These tests check the orchestration: when the hook compiles (after loading and DDP
wrapping), fixed batch shapes, resuming, two processes, half precision, the logs. The
config's CompileHook uses torch.compile's ``aot_eager`` backend, which traces as inductor
does (dynamo, AOTAutograd, DDP's graph splitting) but runs eager kernels: inductor's C++ code
generation takes about 100 s per graph on this machine, and its numerics are checked by
tests/test_compile.py.
"""
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch

from conftest import DET_CONFIG, REPO_ROOT, check, det_options, run_tool
from mmevit.checkpoint import safe_torch_load


def traced_config(tmp_path):
    path = tmp_path / 'traced.py'
    path.write_text(f"_base_ = ['{DET_CONFIG}']\n"
                    f"custom_hooks = [dict(type='CompileHook', backend='aot_eager')]\n")
    return str(path)


@pytest.mark.slow  # the compiled path on CPU; tests/test_compile.py checks it in-process
def test_compiled_training_resumes_and_tests_like_eager(shapes_root, tmp_path):
    config = traced_config(tmp_path)
    work = str(tmp_path / 'compiled')
    out = check(run_tool('train.py', config, '--compile', '--work-dir', work,
                         *det_options(shapes_root, epochs=1)))
    assert "Compiled ['backbone'] (torch.compile, backend=aot_eager" in out
    assert 'train: the first iteration took' in out and 'val: the first iteration took' in out
    assert 'FixedShapeDetDataPreprocessor' in out  # the config the Runner logs
    out = check(run_tool('train.py', config, '--compile', '--work-dir', work, '--resume',
                         *det_options(shapes_root, epochs=2)))
    assert 'resumed epoch: 1' in out and osp.isfile(osp.join(work, 'epoch_2.pth'))

    preds = {}
    for name, flags in (('eager', ['--fuse']), ('compiled', ['--fuse', '--compile'])):
        path = osp.join(work, f'{name}.pkl')
        out = check(run_tool('test.py', config, osp.join(work, 'epoch_2.pth'), *flags,
                             '--work-dir', work, '--out', path,
                             *det_options(shapes_root, epochs=2)))
        assert 'coco/bbox_mAP' in out
        with open(path, 'rb') as f:
            preds[name] = pickle.load(f)
    assert 'test: the first iteration took' in out
    out = check(run_tool('test.py', config, osp.join(work, 'epoch_2.pth'), '--fp16',
                         '--work-dir', work, *det_options(shapes_root, epochs=2)))
    assert "Testing ['backbone', 'neck', 'bbox_head'] in half precision" in out
    assert 'coco/bbox_mAP' in out
    for eager, compiled in zip(preds['eager'], preds['compiled']):
        a, b = eager['pred_instances']['scores'], compiled['pred_instances']['scores']
        assert len(a) == len(b) > 0
        assert torch.allclose(a.sort().values, b.sort().values, rtol=1e-3, atol=1e-5)


@pytest.mark.slow  # the compiled path on CPU; tests/test_compile.py checks it in-process
def test_compiled_dist_train_two_processes(shapes_root, tmp_path):
    config = traced_config(tmp_path)
    work = str(tmp_path / 'dist')
    env = dict(os.environ, PYTHON=sys.executable, PORT='29519', OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), config, '2',
                           '--compile', '--work-dir', work, *det_options(shapes_root, 1)],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=900)
    log = check(proc)
    assert 'Distributed training: True' in log and "Compiled ['backbone']" in log
    state = safe_torch_load(osp.join(work, 'epoch_1.pth'))['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
