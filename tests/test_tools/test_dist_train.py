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


def test_end_process_group_destroys_the_run_group(tmp_path):
    """The helper tools/train.py and tools/test.py call after a finished run (left to the
    interpreter's exit, gloo's threads can abort it: SIGABRT, seen once in the two-process
    run above) destroys the group, and does nothing without one."""
    import torch.distributed as dist
    from mmevit.cli import end_process_group
    end_process_group()  # none yet: nothing to do
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
                            world_size=1)
    try:
        assert dist.is_initialized()
        end_process_group()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
