"""Training that is killed and resumed ends where an uninterrupted run ends."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch

from conftest import DET_CONFIG, REPO_ROOT, check, det_options, run_tool
from mmevit.checkpoint import safe_torch_load


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


def test_killed_training_resumes_to_identical_weights(shapes_root, tmp_path):
    config = _deterministic_config(tmp_path)
    options = det_options(shapes_root, epochs=3) + ['train_dataloader.batch_size=2']
    straight, interrupted = str(tmp_path / 'straight'), str(tmp_path / 'interrupted')
    check(run_tool('train.py', config, '--work-dir', straight, *options))

    proc = subprocess.Popen([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config,
                             '--work-dir', interrupted, *options], cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = osp.join(interrupted, 'last_checkpoint')  # written once epoch_1.pth is complete
    deadline = time.time() + 300
    while not osp.exists(marker) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not osp.exists(osp.join(interrupted, 'epoch_3.pth')), 'killed too late'
    check(run_tool('train.py', config, '--work-dir', interrupted, '--resume', *options))

    a = safe_torch_load(osp.join(straight, 'epoch_3.pth'))
    b = safe_torch_load(osp.join(interrupted, 'epoch_3.pth'))
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key in a['state_dict']:
        assert torch.equal(a['state_dict'][key], b['state_dict'][key]), key
    for metric in ('coco/bbox_mAP', 'coco/bbox_mAP_50'):
        assert _final_metrics(straight)[metric] == _final_metrics(interrupted)[metric]
