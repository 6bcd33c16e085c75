"""tools/train.py, --resume, tools/test.py and tools/image_demo.py end to end on the generated
shapes data, for both tasks; bad input and mixed precision as users meet them."""
import os
import os.path as osp
import pickle

import pytest
import torch

from conftest import (DET_CONFIG, SEG_B1_CONFIG, SEG_CONFIG, authors_detector_layout, check,
                      det_options, rewrite_annotations, run_tool, seg_options)
from mmevit.checkpoint import safe_torch_load


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

    # the same detector saved as the authors' code saves theirs (mmdet 2.x, microsoft/Cream's
    # key names): tools/test.py takes it as it is and gives the same detections
    trained = safe_torch_load(osp.join(work, 'epoch_2.pth'))
    authors = osp.join(work, 'authors_layout.pth')
    torch.save({'meta': {'CLASSES': trained['meta']['dataset_meta']['classes']},
                'state_dict': authors_detector_layout(trained['state_dict'], 1)}, authors)
    out = check(run_tool('test.py', DET_CONFIG, authors, '--work-dir', work,
                         '--out', osp.join(work, 'authors.pkl'),
                         *det_options(shapes_root, epochs=2)))
    assert "converted" in out and "microsoft/Cream" in out
    with open(osp.join(work, 'authors.pkl'), 'rb') as f:
        for plain, theirs in zip(preds, pickle.load(f), strict=True):
            for key in ('bboxes', 'scores', 'labels'):
                assert torch.equal(plain['pred_instances'][key], theirs['pred_instances'][key])

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


# ---------------------------------------------------------------- bad input


def test_missing_annotation_file_fails_before_writing(own_shapes_root, tmp_path):
    os.remove(osp.join(own_shapes_root, 'annotations', 'instances_train.json'))
    work = tmp_path / 'work'
    proc = run_tool('train.py', DET_CONFIG, '--work-dir', str(work),
                    *det_options(own_shapes_root, 1))
    assert proc.returncode != 0
    assert ('train_dataloader.dataset.ann_file: annotation file not found: '
            f'{own_shapes_root}annotations/instances_train.json') in proc.stderr
    assert not work.exists()  # nothing written half-way


def test_undecodable_image_fails_before_writing(own_shapes_root, tmp_path):
    image = osp.join(own_shapes_root, 'images', 'train', '000000.png')
    with open(image, 'wb') as f:
        f.write(b'not a png')
    work = tmp_path / 'work'
    proc = run_tool('train.py', DET_CONFIG, '--work-dir', str(work),
                    *det_options(own_shapes_root, 1))
    assert proc.returncode != 0
    assert f'train_dataloader.dataset: {image} is not a readable image' in proc.stderr
    assert not work.exists()


def test_images_without_annotations_still_train(own_shapes_root, tmp_path):
    rewrite_annotations(own_shapes_root, lambda coco: coco.update(annotations=[]))
    work = str(tmp_path / 'work')
    check(run_tool('train.py', DET_CONFIG, '--work-dir', work, *det_options(own_shapes_root, 1),
                   'train_dataloader.dataset.filter_cfg.filter_empty_gt=False'))
    state = safe_torch_load(osp.join(work, 'epoch_1.pth'))['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


# ---------------------------------------------------------------- mixed precision


@pytest.mark.parametrize('config, kind', [(DET_CONFIG, 'det'), (SEG_B1_CONFIG, 'seg')])
def test_amp_bf16_on_cpu_trains_without_nan(config, kind, shapes_root, tmp_path):
    work = str(tmp_path / kind)
    if kind == 'det':
        options = det_options(shapes_root, 1)
    else:
        options = seg_options(shapes_root, 4, checkpoint_interval=4) + [
            'default_hooks.logger.interval=1']
    out = check(run_tool('train.py', config, '--amp', '--work-dir', work, *options))
    assert 'BF16AutocastOptimWrapper' in out
    losses = [float(part.split(':')[1]) for line in out.splitlines() if 'Iter(train)' in line
              or 'Epoch(train)' in line for part in line.split('  ') if part.startswith('loss:')]
    assert losses and all(v == v and abs(v) != float('inf') for v in losses)
    ckpt = safe_torch_load(osp.join(work, 'epoch_1.pth' if kind == 'det' else 'iter_4.pth'))
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values()
               if v.is_floating_point())
