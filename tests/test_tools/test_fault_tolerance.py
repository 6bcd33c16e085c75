"""Training that is killed at any moment, even while it writes a checkpoint, and resumed
ends where an uninterrupted run ends; unreadable checkpoints are named, not tracebacks."""
import glob
import json
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import time

import torch

from conftest import DET_CONFIG, REPO_ROOT, check, det_options, run_tool
from mmevit.checkpoint import safe_torch_load

# Loaded by the interpreter at start-up from PYTHONPATH: every fsync (the last step of an
# atomic checkpoint write before its rename) takes 5 s, a window to kill the run in.
SLOW_FSYNC = '''import os, time
_fsync = os.fsync
def _slow_fsync(fd):
    time.sleep(5)
    _fsync(fd)
os.fsync = _slow_fsync
'''


def _deterministic_config(tmp_path):
    """The demo config without random flips: resumed and uninterrupted runs see the same data."""
    path = tmp_path / 'deterministic.py'
    path.write_text(f"""_base_ = ['{DET_CONFIG}']
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(160, 128), keep_ratio=True),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
""")
    return str(path)


def _final_metrics(work):
    scalars = [json.loads(line) for d in os.listdir(work)
               if osp.isfile(osp.join(work, d, 'vis_data', 'scalars.json'))
               for line in open(osp.join(work, d, 'vis_data', 'scalars.json'))]
    return [s for s in scalars if 'coco/bbox_mAP' in s][-1]


def _start(config, work, options, env=None):
    return subprocess.Popen([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config,
                             '--work-dir', work, '--resume', *options], cwd=REPO_ROOT,
                            env=dict(os.environ, **(env or {})), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _kill_when(proc, ready, timeout=300):
    deadline = time.time() + timeout
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _after_next_checkpoint(work, delay):
    """True ``delay`` seconds after a checkpoint newer than the present ones appears."""
    saved, written = set(glob.glob(osp.join(work, 'epoch_*.pth'))), []

    def ready():
        if not written and set(glob.glob(osp.join(work, 'epoch_*.pth'))) - saved:
            written.append(time.time())
        return bool(written) and time.time() - written[0] > delay
    return ready


def test_killed_at_any_moment_resumes_to_identical_weights(shapes_root, tmp_path):
    config = _deterministic_config(tmp_path)
    options = det_options(shapes_root, epochs=6) + ['train_dataloader.batch_size=2']
    straight, interrupted = str(tmp_path / 'straight'), str(tmp_path / 'interrupted')
    check(run_tool('train.py', config, '--work-dir', straight, *options))

    # 1. at a random moment of the second epoch (seeded, so the test is repeatable)
    rng = random.Random(0)
    _kill_when(_start(config, interrupted, options),
               _after_next_checkpoint(interrupted, rng.uniform(0, 0.6)))
    # 2. while a checkpoint is being written: its temporary file is complete, not renamed
    slow = tmp_path / 'slow_fsync'
    slow.mkdir()
    (slow / 'sitecustomize.py').write_text(SLOW_FSYNC)
    for leftover in glob.glob(osp.join(interrupted, '*.part')):
        os.remove(leftover)
    before = set(glob.glob(osp.join(interrupted, '*.pth')))
    proc = _start(config, interrupted, options,
                  env=dict(PYTHONPATH=f'{slow}:{os.environ.get("PYTHONPATH", "")}'))
    _kill_when(proc, lambda: glob.glob(osp.join(interrupted, '*.pth.part')))
    assert glob.glob(osp.join(interrupted, '*.pth.part')), 'not killed during a write'
    # nothing half-written appears (the oldest may be gone: mmengine removes it before saving
    # when max_keep_ckpts is reached), and what is there loads
    remaining = set(glob.glob(osp.join(interrupted, '*.pth')))
    assert remaining and remaining <= before
    for path in remaining:
        safe_torch_load(path)
    # 3. at a random moment after the next checkpoint is out
    _kill_when(_start(config, interrupted, options),
               _after_next_checkpoint(interrupted, rng.uniform(0, 0.6)))
    assert not osp.exists(osp.join(interrupted, 'epoch_6.pth')), 'killed too late'
    # 4. the newest checkpoint truncated, as an in-place write leaves it: skipped, with a line
    newest = max(glob.glob(osp.join(interrupted, 'epoch_*.pth')),
                 key=lambda p: int(p.rsplit('_', 1)[1][:-4]))
    with open(newest, 'r+b') as f:
        f.truncate(os.path.getsize(newest) // 2)
    out = check(run_tool('train.py', config, '--work-dir', interrupted, '--resume', *options))
    assert f'--resume: skipping {newest}: Truncated or corrupt checkpoint {newest}' in out

    a = safe_torch_load(osp.join(straight, 'epoch_6.pth'))
    b = safe_torch_load(osp.join(interrupted, 'epoch_6.pth'))
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key in a['state_dict']:
        assert torch.equal(a['state_dict'][key], b['state_dict'][key]), key
    for metric in ('coco/bbox_mAP', 'coco/bbox_mAP_50'):
        assert _final_metrics(straight)[metric] == _final_metrics(interrupted)[metric]


def test_unreadable_checkpoints_stop_the_tools_with_one_line(shapes_root, tmp_path):
    text = tmp_path / 'notes.pth'
    text.write_text('hello\n!')
    truncated = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': {'w': torch.randn(256, 256)}}, truncated)
    with open(truncated, 'r+b') as f:
        f.truncate(1000)
    cases = [(['train.py', DET_CONFIG, '--resume', str(text)], f'Not a checkpoint: {text}'),
             (['test.py', DET_CONFIG, str(truncated)],
              f'Truncated or corrupt checkpoint {truncated} (1000 bytes)')]
    for args, message in cases:
        proc = run_tool(*args, '--work-dir', str(tmp_path / 'work'),
                        *det_options(shapes_root, 1))
        assert proc.returncode == 1
        assert 'Traceback' not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith(message)
