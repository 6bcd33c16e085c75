"""tools/dist_train.sh: two processes (torchrun, gloo on CPUs), then tools/test.py."""
import os
import os.path as osp
import subprocess
import sys

from conftest import DET_CONFIG, REPO_ROOT, check, det_options, run_tool


def test_dist_train_two_processes_then_test(shapes_root, tmp_path):
    work = str(tmp_path / 'dist')
    env = dict(os.environ, PYTHON=sys.executable, PORT='29517', OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), DET_CONFIG, '2',
                           '--work-dir', work, *det_options(shapes_root, 1)],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600)
    log = check(proc)
    assert 'Distributed training: True' in log and 'GPU number: 2' in log  # mmengine's words
    out = check(run_tool('test.py', DET_CONFIG, osp.join(work, 'epoch_1.pth'),
                         '--work-dir', work, *det_options(shapes_root, 1)))
    assert 'coco/bbox_mAP' in out
