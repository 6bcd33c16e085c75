"""Bad input, interruption, several processes and mixed precision."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO_ROOT
from mmevit.checkpoint import safe_torch_load
from mmevit.datasets import check_coco_file, generate_shapes_dataset
from mmevit.models import EfficientViT, EfficientViTB
from test_tools import DET_CONFIG, check, det_options, run_tool

SEG_B1_CONFIG = osp.join(REPO_ROOT, 'configs/demo/efficientvit_seg_b1_shapes.py')


@pytest.fixture()
def shapes_root(tmp_path):
    root = str(tmp_path / 'shapes')
    generate_shapes_dataset(root, num_train=8, num_val=4)
    return root + '/'


def _rewrite_annotations(root, edit):
    path = osp.join(root, 'annotations', 'instances_train.json')
    with open(path) as f:
        coco = json.load(f)
    edit(coco)
    with open(path, 'w') as f:
        json.dump(coco, f)
    return path


# ---------------------------------------------------------------- bad input


def test_missing_annotation_file_fails_before_writing(shapes_root, tmp_path):
    os.remove(osp.join(shapes_root, 'annotations', 'instances_train.json'))
    work = tmp_path / 'work'
    proc = run_tool('train.py', DET_CONFIG, '--work-dir', str(work), *det_options(shapes_root, 1))
    assert proc.returncode != 0
    assert ('train_dataloader.dataset.ann_file: annotation file not found: '
            f'{shapes_root}annotations/instances_train.json') in proc.stderr
    assert not work.exists()  # nothing written half-way


def test_corrupt_annotation_file_names_it(shapes_root):
    path = osp.join(shapes_root, 'annotations', 'instances_train.json')
    with open(path, 'r+') as f:
        f.truncate(100)
    with pytest.raises(ValueError, match=f'annotation file {path} is not valid JSON'):
        check_coco_file(path, 'train_dataloader.dataset.ann_file')


def test_unknown_category_id_names_annotation(shapes_root):
    def edit(coco):
        coco['annotations'][0]['category_id'] = 99
    path = _rewrite_annotations(shapes_root, edit)
    with pytest.raises(ValueError) as err:
        check_coco_file(path, 'train_dataloader.dataset.ann_file')
    assert f"annotation 1 in {path} has category_id 99, which is not among the file's " \
           'categories [1, 2, 3]' in str(err.value)


def test_undecodable_image_names_it(shapes_root, tmp_path):
    image = osp.join(shapes_root, 'images', 'train', '000000.png')
    with open(image, 'wb') as f:
        f.write(b'not a png')
    proc = run_tool('train.py', DET_CONFIG, '--work-dir', str(tmp_path / 'work'),
                    *det_options(shapes_root, 1))
    assert proc.returncode != 0
    assert f'failed to load image: {image}' in proc.stderr


def test_images_without_annotations_still_train(shapes_root, tmp_path):
    _rewrite_annotations(shapes_root, lambda coco: coco.update(annotations=[]))
    work = str(tmp_path / 'work')
    check(run_tool('train.py', DET_CONFIG, '--work-dir', work, *det_options(shapes_root, 1),
                   'train_dataloader.dataset.filter_cfg.filter_empty_gt=False'))
    state = safe_torch_load(osp.join(work, 'epoch_1.pth'))['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.mark.parametrize('arch', ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'b0', 'b1', 'b2', 'b3'])
def test_extreme_input_sizes_batch_one(arch):
    model = (EfficientViT(arch) if arch.startswith('m') else EfficientViTB(arch)).eval()
    for h, w in ((1, 1), (31, 31), (7, 4000)):
        with torch.no_grad():
            outs = model(torch.randn(1, 3, h, w))
        assert len(outs) == len(model.out_indices)
        assert all(o.shape[0] == 1 and torch.isfinite(o).all() for o in outs), (arch, h, w)


# ---------------------------------------------------------------- interruption


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


# ---------------------------------------------------------------- several processes


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


# ---------------------------------------------------------------- mixed precision


@pytest.mark.parametrize('config, kind', [(DET_CONFIG, 'det'), (SEG_B1_CONFIG, 'seg')])
def test_amp_bf16_on_cpu_trains_without_nan(config, kind, shapes_root, tmp_path):
    work = str(tmp_path / kind)
    if kind == 'det':
        options = det_options(shapes_root, 1)
    else:
        options = ['--cfg-options', f'train_dataloader.dataset.data_root={shapes_root}',
                   f'val_dataloader.dataset.data_root={shapes_root}',
                   'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
                   'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
                   'val_dataloader.persistent_workers=False', 'train_cfg.max_iters=4',
                   'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=4',
                   'default_hooks.logger.interval=1']
    out = check(run_tool('train.py', config, '--amp', '--work-dir', work, *options))
    assert 'BF16AutocastOptimWrapper' in out
    losses = [float(part.split(':')[1]) for line in out.splitlines() if 'Iter(train)' in line
              or 'Epoch(train)' in line for part in line.split('  ') if part.startswith('loss:')]
    assert losses and all(v == v and abs(v) != float('inf') for v in losses)
    ckpt = safe_torch_load(osp.join(work, 'epoch_1.pth' if kind == 'det' else 'iter_4.pth'))
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values()
               if v.is_floating_point())
