"""What the README shows users: mmdet's DetInferencer and mmseg's MMSegInferencer on mmevit's
configs and checkpoints (also accelerated), and fine-tuning a COCO-trained detector on a data
set with other classes."""
import os.path as osp

import numpy as np
import torch

from conftest import (DET_CONFIG, REPO_ROOT, SEG_CONFIG, check, config_model, det_options,
                      run_tool)
from mmevit.checkpoint import safe_torch_load
from mmevit.deploy import accelerate


def _checkpoint(config, path, classes):
    torch.manual_seed(0)
    model = config_model(config)
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {'classes': classes}}},
               path)
    return str(path)


def test_det_inferencer_on_our_config(shapes_root, tmp_path):
    from mmdet.apis import DetInferencer
    weights = _checkpoint('demo/retinanet_evit_m4_shapes.py', tmp_path / 'det.pth',
                          ('circle', 'square', 'triangle'))
    image = osp.join(shapes_root, 'images', 'val', '000000.png')
    inferencer = DetInferencer(model=DET_CONFIG, weights=weights, device='cpu')
    plain = inferencer(image, pred_score_thr=0.0)['predictions'][0]
    assert len(plain['scores']) > 0 and len(plain['bboxes'][0]) == 4
    assert set(plain['labels']) <= {0, 1, 2}
    # accelerated as the README shows (here traced without inductor's code generation)
    accelerate(inferencer.model, mode=None, backend='aot_eager')
    fast = inferencer(image, pred_score_thr=0.0)['predictions'][0]
    assert np.allclose(sorted(plain['scores']), sorted(fast['scores']), rtol=1e-4, atol=1e-6)


def test_mmseg_inferencer_on_our_config(shapes_root, tmp_path):
    from mmseg.apis import MMSegInferencer
    weights = _checkpoint('demo/fpn_evit_m4_shapes_seg.py', tmp_path / 'seg.pth',
                          ('background', 'circle', 'square', 'triangle'))
    image = osp.join(shapes_root, 'images', 'val', '000000.png')
    result = MMSegInferencer(model=SEG_CONFIG, weights=weights, device='cpu')(image)
    labels = np.asarray(result['predictions'])
    assert labels.shape == (128, 160) and labels.max() < 4


def test_finetune_coco_detector_on_other_classes(shapes_root, tmp_path):
    coco = _checkpoint('retinanet_evit_m4_1x.py', tmp_path / 'coco.pth', ('person', ) * 80)
    config = osp.join(REPO_ROOT, 'configs/demo/retinanet_evit_m4_shapes_finetune.py')
    work = str(tmp_path / 'finetune')
    # lr 0 and BatchNorm statistics frozen (norm_eval): what the run starts from is what it
    # ends with
    out = check(run_tool('train.py', config, '--work-dir', work, *det_options(shapes_root, 1),
                         f'load_from={coco}', 'optim_wrapper.optimizer.lr=0'))
    mismatched = sorted(set(line.split()[3].rstrip(':') for line in out.splitlines()
                            if line.startswith('size mismatch for')))
    assert mismatched == ['bbox_head.retina_cls.bias', 'bbox_head.retina_cls.weight']
    assert 'missing keys in source state_dict' not in out and 'coco/bbox_mAP' in out
    before = safe_torch_load(coco)['state_dict']
    after = safe_torch_load(osp.join(work, 'epoch_1.pth'))['state_dict']
    for name, value in after.items():
        if name.startswith('bbox_head.retina_cls'):
            assert value.shape[0] == 9 * 3  # 9 anchors x 3 classes, freshly initialised
        else:
            assert torch.equal(value, before[name]), name
