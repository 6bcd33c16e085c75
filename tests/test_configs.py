"""Every shipped config builds in its scope and runs; detectors and segmentors take a loss
step that reaches the backbone and a predict step."""
import glob
import os.path as osp

import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import REPO_ROOT
from mmevit.models import build_model, task_of
from test_architecture_grid import GRID_FOLDERS

CONFIGS = sorted(  # model configs: not the bases, not mmdeploy's deploy configs, not the
    # architecture grid's folders (tests/test_architecture_grid.py builds and runs those)
    osp.relpath(p, osp.join(REPO_ROOT, 'configs'))
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p and f'{osp.sep}deploy{osp.sep}' not in p
    and osp.dirname(osp.relpath(p, osp.join(REPO_ROOT, 'configs'))) not in GRID_FOLDERS)


def load(name):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


SEG_CONFIGS = [c for c in CONFIGS if task_of(load(c)) == 'segmentation']
DET_CONFIGS = [c for c in CONFIGS if task_of(load(c)) == 'detection']


def test_all_configs_are_collected():
    assert 'retinanet_evit_m4_1x.py' in CONFIGS and len(CONFIGS) >= 20


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_and_runs(name):
    cfg = load(name)
    assert cfg.default_scope in ('mmdet', 'mmseg')
    assert cfg.custom_imports.imports == ['mmevit', 'mmevit.runtime']
    # rotation that removes old checkpoints only once the new one is written
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    init_cfg = cfg.model.backbone.get('init_cfg')
    if init_cfg is not None:  # ImageNet weights: the authors' release of this arch
        assert init_cfg.type == 'Pretrained'
        arch = cfg.model.backbone.get('arch')
        if cfg.model.backbone.type.startswith('EfficientViT'):
            assert init_cfg.checkpoint in (
                'https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/releases/download/'
                f'v1.0/efficientvit_{arch}.pth',
                f'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/efficientvit_{arch}'
                '_r224.pt')
        else:  # mmdet's baselines
            assert init_cfg.checkpoint.startswith(('torchvision://', 'open-mmlab://'))
    segmentation = task_of(cfg) == 'segmentation'
    if segmentation:
        cfg.model.data_preprocessor.size = (128, 160)  # instead of the 512-pixel crops
    model = build_model(cfg)  # random weights: no ImageNet checkpoint in tests
    x = torch.randn(1, 3, 128, 160)
    with torch.no_grad():
        feats = model.extract_feat(x)
        if segmentation:
            logits = model.decode_head(feats)
            assert logits.shape[:2] == (1, model.decode_head.num_classes)
        else:  # the neck's levels must be the ones the head's anchors are laid out for
            head = cfg.model.get('bbox_head') or cfg.model.rpn_head
            strides = head.anchor_generator.strides
            assert len(feats) == len(strides)
            for feat, stride in zip(feats, strides):
                assert feat.shape[1:] == (head.in_channels, -(-128 // stride), -(-160 // stride))
    assert all(torch.isfinite(f).all() for f in feats)


@pytest.mark.parametrize('name', DET_CONFIGS)
def test_detectors_keep_backbone_batchnorm_statistics(name):
    # The authors' recipe (their backbone's train() keeps every BatchNorm2d in eval mode) and
    # mmdet's convention at 2 images per GPU: statistics frozen, affine parameters trained.
    # Only the demo detectors trained from scratch (no ImageNet or COCO weights) learn them.
    cfg = load(name)
    from_scratch = cfg.model.backbone.get('init_cfg') is None and not cfg.get('load_from')
    model = build_model(cfg).train()
    norms = [m for m in model.backbone.modules() if isinstance(m, _BatchNorm)]
    assert norms
    training = [m for m in norms if m.training]
    if from_scratch:
        assert len(training) == len(norms), f'{name} trains from scratch but freezes BatchNorm'
    else:
        assert not training, f'{name} trains {len(training)} backbone BatchNorm layers'
    trained = [m.weight.requires_grad and m.bias.requires_grad for m in norms]
    if cfg.model.backbone.get('frozen_stages', -1) < 0:
        assert all(trained)
    else:  # mmdet's ResNet baselines freeze the stem and the first stage
        assert any(trained) and not all(trained)


def _loss_step(model, data):
    model.train()
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads), 'loss did not reach the backbone'
    return losses


@pytest.mark.parametrize('config, with_mask', [('retinanet_evit_m4_1x.py', False),
                                               ('mask_rcnn_evit_m4_1x.py', True)])
def test_detector_loss_and_predict_step(config, with_mask):
    model = build_model(load(config))
    model.init_weights()
    data = demo_mm_inputs(batch_size=2, image_shapes=[(3, 160, 224), (3, 128, 192)],
                          num_classes=80, with_mask=with_mask)
    losses = _loss_step(model, data)
    assert 'loss_cls' in losses or 'loss_rpn_cls' in losses
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(data, False), mode='predict')
    assert len(results) == 2 and 'bboxes' in results[0].pred_instances
    if with_mask:
        assert 'masks' in results[0].pred_instances


@pytest.mark.parametrize('name', SEG_CONFIGS)
def test_segmentors_synchronise_batchnorm_as_mmseg_does(name):
    # statistics over all GPUs in distributed training; build_model (as mmengine does in a
    # single process) turns SyncBN into BN. The CPU demos keep BN (gloo has no SyncBN).
    cfg = load(name)
    for part in ('backbone', 'decode_head'):
        expected = 'BN' if name.startswith('demo/') else 'SyncBN'
        assert cfg.model[part].norm_cfg.type == expected, part
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in build_model(cfg).modules())


@pytest.mark.parametrize('name', SEG_CONFIGS)
def test_segmentor_loss_and_predict_step(name):
    cfg = load(name)
    cfg.model.data_preprocessor.size = (128, 160)
    model = build_model(cfg)
    num_classes = model.decode_head.num_classes
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(128, 160), ori_shape=(128, 160),
                                             pad_shape=(128, 160)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, 128, 160), generator=g))
        samples.append(sample)
    data = dict(inputs=[torch.randint(0, 255, (3, 128, 160), generator=g, dtype=torch.uint8)
                        for _ in range(2)], data_samples=samples)
    _loss_step(model, data)
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(data, False), mode='predict')
    assert results[0].pred_sem_seg.data.shape == (1, 128, 160)
    assert int(results[0].pred_sem_seg.data.max()) < num_classes
