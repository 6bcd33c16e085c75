"""tools/train.py, --resume and tools/test.py, end to end on the generated shapes data."""
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT
from mmevit.checkpoint import safe_torch_load
from mmevit.datasets import generate_shapes_dataset

DET_CONFIG = osp.join(REPO_ROOT, 'configs/demo/retinanet_evit_m4_shapes.py')
SEG_CONFIG = osp.join(REPO_ROOT, 'configs/demo/fpn_evit_m4_shapes_seg.py')


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('shapes'))
    generate_shapes_dataset(root, num_train=8, num_val=4)
    return root + '/'


def run_tool(tool, *args):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', tool), *args],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600)
    return proc


def check(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def det_options(root, epochs):
    ann = root + 'annotations/instances_val.json'
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}',
            f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False', f'train_cfg.max_epochs={epochs}',
            f'train_cfg.val_interval={epochs}', 'default_hooks.checkpoint.interval=1',
            'model.test_cfg.score_thr=0.0']


def seg_options(root, iters):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}',
            'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False', f'train_cfg.max_iters={iters}',
            f'train_cfg.val_interval={iters}', 'default_hooks.checkpoint.interval=2']


def test_detection_train_resume_test(shapes_root, tmp_path):
    work = str(tmp_path / 'det')
    out = check(run_tool('train.py', DET_CONFIG, '--work-dir', work,
                         *det_options(shapes_root, epochs=1)))
    assert osp.isfile(osp.join(work, 'epoch_1.pth')), out[-2000:]

    # --resume (latest checkpoint of the work dir) continues at epoch 2 with its optimizer state
    out = check(run_tool('train.py', DET_CONFIG, '--work-dir', work, '--resume',
                         *det_options(shapes_root, epochs=2)))
    assert 'resumed epoch: 1' in out
    first = safe_torch_load(osp.join(work, 'epoch_1.pth'))
    second = safe_torch_load(osp.join(work, 'epoch_2.pth'))
    assert second['meta']['epoch'] == 2 and second['meta']['iter'] == 2 * first['meta']['iter']
    steps = lambda ckpt: next(iter(ckpt['optimizer']['state'].values()))['step'].item()  # noqa
    assert steps(second) == 2 * steps(first)

    out = check(run_tool('test.py', DET_CONFIG, osp.join(work, 'epoch_2.pth'), '--work-dir', work,
                         '--out', osp.join(work, 'preds.pkl'), '--show-dir', 'vis',
                         *det_options(shapes_root, epochs=2)))
    assert 'coco/bbox_mAP' in out and 'Average Precision' in out  # pycocotools' summary
    with open(osp.join(work, 'preds.pkl'), 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4 and 'pred_instances' in preds[0]
    drawn = [f for _, _, files in os.walk(work) for f in files if f.endswith('.png')]
    assert len(drawn) == 4

    # --fuse evaluates the inference fast path: the same detections up to float rounding
    out = check(run_tool('test.py', DET_CONFIG, osp.join(work, 'epoch_2.pth'), '--work-dir', work,
                         '--out', osp.join(work, 'fused.pkl'), '--fuse',
                         *det_options(shapes_root, epochs=2)))
    assert 'coco/bbox_mAP' in out and 'Testing the inference fast path' in out
    with open(osp.join(work, 'fused.pkl'), 'rb') as f:
        fused = pickle.load(f)
    for plain, fast in zip(preds, fused):
        a, b = plain['pred_instances']['scores'], fast['pred_instances']['scores']
        assert len(a) == len(b) > 0
        assert torch.allclose(a.sort().values, b.sort().values, rtol=1e-3, atol=1e-5)

    image = osp.join(shapes_root, 'images', 'val', '000000.png')
    out = osp.join(work, 'demo.png')
    check(run_tool('image_demo.py', image, DET_CONFIG, osp.join(work, 'epoch_2.pth'),
                   '--out', out, '--score-thr', '0.0',
                   '--cfg-options', 'model.test_cfg.score_thr=0.0'))
    import cv2
    drawn, original = cv2.imread(out), cv2.imread(image)
    assert drawn.shape == original.shape and (drawn != original).any()


def test_segmentation_train_resume_test(shapes_root, tmp_path):
    work = str(tmp_path / 'seg')
    check(run_tool('train.py', SEG_CONFIG, '--work-dir', work, *seg_options(shapes_root, 2)))
    out = check(run_tool('train.py', SEG_CONFIG, '--work-dir', work, '--resume',
                         osp.join(work, 'iter_2.pth'), *seg_options(shapes_root, 4)))
    assert 'resumed epoch: 0, iter: 2' in out
    out = check(run_tool('test.py', SEG_CONFIG, osp.join(work, 'iter_4.pth'), '--work-dir', work,
                         '--out', osp.join(work, 'preds'), *seg_options(shapes_root, 4)))
    assert 'mIoU' in out
    assert sorted(os.listdir(osp.join(work, 'preds'))) == [f'{i:06d}.png' for i in range(4)]


def test_test_tool_refuses_crafted_checkpoint(shapes_root, tmp_path):
    marker = tmp_path / 'executed'
    path = str(tmp_path / 'crafted.pth')

    class RunsCode:
        def __reduce__(self):
            return (os.system, (f'touch {marker}',))

    torch.save({'state_dict': {}, 'meta': RunsCode()}, path)
    proc = run_tool('test.py', DET_CONFIG, path, '--work-dir', str(tmp_path),
                    *det_options(shapes_root, epochs=1))
    assert proc.returncode != 0
    assert f'Refusing to load checkpoint {path}' in proc.stderr
    assert not marker.exists()


def test_test_tool_missing_checkpoint(tmp_path):
    proc = run_tool('test.py', DET_CONFIG, str(tmp_path / 'absent.pth'))
    assert proc.returncode != 0
    assert f'Checkpoint file not found: {tmp_path / "absent.pth"}' in proc.stderr


def test_shapes_dataset_is_deterministic(tmp_path):
    a = generate_shapes_dataset(str(tmp_path / 'a'), num_train=3, num_val=2, seed=3)
    b = generate_shapes_dataset(str(tmp_path / 'b'), num_train=3, num_val=2, seed=3)
    for split in ('train', 'val'):
        with open(a[split]) as fa, open(b[split]) as fb:
            coco = json.load(fa)
            assert coco == json.load(fb)
        assert coco['annotations'] and all(ann['area'] > 0 for ann in coco['annotations'])
        for image in coco['images']:
            name = image['file_name']
            for sub in ('images', 'seg_maps'):
                with open(tmp_path / 'a' / sub / split / name, 'rb') as fa, \
                        open(tmp_path / 'b' / sub / split / name, 'rb') as fb:
                    assert fa.read() == fb.read()


@pytest.mark.parametrize('arch', ['m4', 'b1'])
def test_convert_backbone_checkpoint(arch, official_checkpoint, tmp_path):
    from mmevit.models import EfficientViT, EfficientViTB
    src = official_checkpoint(f'efficientvit_{arch}')
    dst = str(tmp_path / 'converted' / f'{arch}.pth')
    check(run_tool('convert_checkpoint.py', src, dst, '--arch', arch))
    cls = EfficientViT if arch.startswith('m') else EfficientViTB
    models = [cls(arch, init_cfg=dict(type='Pretrained', checkpoint=path)) for path in (src, dst)]
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        outs = [m.init_weights() or m.eval()(x) for m in models]
    for a, b in zip(*outs):
        assert torch.equal(a, b)


def test_convert_refuses_wrong_arch_and_writes_nothing(official_checkpoint, tmp_path):
    dst = tmp_path / 'out.pth'
    proc = run_tool('convert_checkpoint.py', official_checkpoint('efficientvit_m0'), str(dst),
                    '--arch', 'm4')
    assert proc.returncode != 0
    assert "shape mismatch at 'patch_embed.conv1.conv.weight'" in proc.stderr
    assert not dst.exists() and not (tmp_path / 'out.pth.tmp').exists()


def test_convert_official_segmentation_model_and_evaluate(tmp_path):
    from mmevit.models.decode_heads.efficientvit_seg_head import EfficientViTSegHead  # noqa
    from reference import deterministic_checkpoint, load_reference, reference_input
    from reference import relative_error
    from conftest import build_in_scope
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    ref = load_reference('efficientvit_seg_b0_cityscapes')
    src, dst = str(tmp_path / 'official.pt'), str(tmp_path / 'mmseg.pth')
    torch.save({'state_dict': deterministic_checkpoint(ref)}, src)
    config = osp.join(REPO_ROOT, 'configs/efficientvit_seg_b0_cityscapes.py')
    check(run_tool('convert_checkpoint.py', src, dst, '--segmentor', config))
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    model = revert_sync_batchnorm(build_in_scope(cfg.model, 'mmseg')).eval()
    model.load_state_dict(safe_torch_load(dst)['state_dict'])
    with torch.no_grad():
        logits = model.decode_head(model.extract_feat(reference_input('1x3x256x320')))
    assert relative_error(logits, ref['outputs']['1x3x256x320'][0]) < 1e-4
