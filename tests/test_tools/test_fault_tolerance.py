"""Training that is killed at any moment, even while it writes a checkpoint, and resumed
ends where an uninterrupted run ends; unreadable checkpoints are named, not tracebacks."""
import glob
import json
import os
import os.path as osp
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
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
    options = det_options(shapes_root, epochs=4) + ['train_dataloader.batch_size=2']
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
    # nothing half-written appears, nothing is gone (old checkpoints are removed only after
    # the new one is written), and what is there loads
    remaining = set(glob.glob(osp.join(interrupted, '*.pth')))
    assert remaining and remaining == before
    for path in remaining:
        safe_torch_load(path)
    # 3. at a random moment after the next checkpoint is out
    _kill_when(_start(config, interrupted, options),
               _after_next_checkpoint(interrupted, rng.uniform(0, 0.6)))
    assert not osp.exists(osp.join(interrupted, 'epoch_4.pth')), 'killed too late'
    # 4. the newest checkpoint truncated, as an in-place write leaves it: skipped, with a line
    newest = max(glob.glob(osp.join(interrupted, 'epoch_*.pth')),
                 key=lambda p: int(p.rsplit('_', 1)[1][:-4]))
    with open(newest, 'r+b') as f:
        f.truncate(os.path.getsize(newest) // 2)
    out = check(run_tool('train.py', config, '--work-dir', interrupted, '--resume', *options))
    assert f'--resume: skipping {newest}: Truncated or corrupt checkpoint {newest}' in out

    a = safe_torch_load(osp.join(straight, 'epoch_4.pth'))
    b = safe_torch_load(osp.join(interrupted, 'epoch_4.pth'))
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


# ---------------------------------------------------------------- hardening


@pytest.fixture(scope='module')
def trained(shapes_root, tmp_path_factory):
    """A work dir after one epoch of the demo detector (epoch_1.pth)."""
    work = str(tmp_path_factory.mktemp('trained'))
    check(run_tool('train.py', DET_CONFIG, '--work-dir', work, *det_options(shapes_root, 1)))
    return work


def _copy_of(trained, tmp_path, name='work'):
    work = str(tmp_path / name)
    os.makedirs(work)
    shutil.copy(osp.join(trained, 'epoch_1.pth'), work)
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work, 'epoch_1.pth'))
    return work


def test_checkpoint_config_text_never_runs_in_the_tools(trained, shapes_root, tmp_path):
    # mmengine's Runner.resume executes meta['config'] (Config.fromstring), the inferencers
    # meta['cfg'] or message_hub['runtime_info']['cfg']
    markers = [tmp_path / f'executed_{i}' for i in range(3)]
    payloads = [f"import os\nos.system('touch {m}')\n" for m in markers]
    checkpoint = safe_torch_load(osp.join(trained, 'epoch_1.pth'))
    checkpoint['meta']['config'], checkpoint['meta']['cfg'] = payloads[:2]
    checkpoint['message_hub']['runtime_info']['cfg'] = payloads[2]
    work = str(tmp_path / 'crafted')
    os.makedirs(work)
    crafted = osp.join(work, 'epoch_1.pth')
    torch.save(checkpoint, crafted)
    options = det_options(shapes_root, 2)
    out = check(run_tool('train.py', DET_CONFIG, '--work-dir', work, '--resume', crafted,
                         *options))  # the file named
    assert 'resumed epoch: 1' in out and 'ignored the config text in meta.config' in out
    os.remove(osp.join(work, 'epoch_2.pth'))
    out = check(run_tool('train.py', DET_CONFIG, '--work-dir', work, '--resume', *options))
    assert f'--resume: resuming from {crafted}' in out  # found in the work dir
    out = check(run_tool('test.py', DET_CONFIG, crafted, '--work-dir', work, *options,
                         'resume=True'))  # tools/test.py with resume=True
    assert 'coco/bbox_mAP' in out
    assert not any(m.exists() for m in markers)


def test_killed_while_rotating_keeps_the_old_checkpoint(trained, shapes_root, tmp_path):
    # max_keep_ckpts=1: mmengine's own hook removes epoch_1.pth before writing epoch_2.pth
    work = _copy_of(trained, tmp_path)
    slow = tmp_path / 'slow_fsync'
    slow.mkdir()
    (slow / 'sitecustomize.py').write_text(SLOW_FSYNC)
    options = det_options(shapes_root, 2) + ['default_hooks.checkpoint.max_keep_ckpts=1']
    proc = _start(DET_CONFIG, work, options,
                  env=dict(PYTHONPATH=f'{slow}:{os.environ.get("PYTHONPATH", "")}'))
    _kill_when(proc, lambda: glob.glob(osp.join(work, 'epoch_2.pth.part')))
    assert glob.glob(osp.join(work, 'epoch_2.pth.part')), 'not killed during the write'
    assert safe_torch_load(osp.join(work, 'epoch_1.pth'))['meta']['epoch'] == 1
    out = check(run_tool('train.py', DET_CONFIG, '--work-dir', work, '--resume', *options))
    assert 'resumed epoch: 1' in out
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == ['epoch_2.pth']


def test_full_disk_stops_with_one_line_and_keeps_the_old_checkpoint(
        trained, shapes_root, tmp_path):
    work = _copy_of(trained, tmp_path)
    limit = os.path.getsize(osp.join(work, 'epoch_1.pth')) // 2

    def small_disk():  # files beyond `limit` bytes cannot be written (EFBIG, as ENOSPC)
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    options = det_options(shapes_root, 2) + ['default_hooks.checkpoint.max_keep_ckpts=1']
    proc = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), DET_CONFIG,
                           '--work-dir', work, '--resume', *options], cwd=REPO_ROOT,
                          capture_output=True, text=True, preexec_fn=small_disk, timeout=600)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'Could not write {osp.join(work, "epoch_2.pth")}: File too large')
    assert sorted(f for f in os.listdir(work) if f.endswith(('.pth', '.part'))) == [
        'epoch_1.pth']
    safe_torch_load(osp.join(work, 'epoch_1.pth'))


def test_test_tool_refuses_another_models_checkpoint(shapes_root, tmp_path):
    other = str(tmp_path / 'segmentor.pth')
    torch.save({'state_dict': {'backbone.stem.weight': torch.zeros(1)},
                'meta': {'epoch': 1, 'iter': 1}}, other)
    proc = run_tool('test.py', DET_CONFIG, other, '--work-dir', str(tmp_path / 'work'),
                    *det_options(shapes_root, 1))
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'{other} leaves ')
    assert "parameters and buffers unset ['backbone." in last


def test_resume_from_weights_only_file_is_one_line(shapes_root, tmp_path):
    from safetensors.torch import save_file
    weights = str(tmp_path / 'model.safetensors')
    save_file({'w': torch.zeros(2)}, weights)
    proc = run_tool('train.py', DET_CONFIG, '--work-dir', str(tmp_path / 'work'), '--resume',
                    weights, *det_options(shapes_root, 1))
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f'{weights} is not a training checkpoint')
