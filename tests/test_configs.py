"""Every shipped config builds in its scope and runs a forward pass."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm

from conftest import REPO_ROOT, build_in_scope

CONFIGS = sorted(
    osp.relpath(p, osp.join(REPO_ROOT, 'configs'))
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def test_all_configs_are_collected():
    assert 'retinanet_evit_m4_1x.py' in CONFIGS and len(CONFIGS) >= 20


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_and_runs(name):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', name))
    assert cfg.default_scope in ('mmdet', 'mmseg')
    assert cfg.custom_imports.imports == ['mmevit']
    init_cfg = cfg.model.backbone.get('init_cfg')
    if init_cfg is not None:  # ImageNet weights: a path the user sets, or mmdet's baselines'
        assert init_cfg.type == 'Pretrained'
        assert init_cfg.checkpoint.startswith(('pretrained/', 'torchvision://', 'open-mmlab://'))
        cfg.model.backbone.init_cfg = None
    if cfg.default_scope == 'mmseg':
        cfg.model.data_preprocessor.size = (128, 160)  # instead of the 512-pixel crops
    model = revert_sync_batchnorm(build_in_scope(cfg.model, cfg.default_scope)).eval()
    x = torch.randn(1, 3, 128, 160)
    with torch.no_grad():
        feats = model.extract_feat(x)
        if cfg.default_scope == 'mmseg':
            logits = model.decode_head(feats)
            assert logits.shape[:2] == (1, model.decode_head.num_classes)
        else:  # the neck's levels must be the ones the head's anchors are laid out for
            head = cfg.model.get('bbox_head') or cfg.model.rpn_head
            strides = head.anchor_generator.strides
            assert len(feats) == len(strides)
            for feat, stride in zip(feats, strides):
                assert feat.shape[1:] == (head.in_channels, -(-128 // stride), -(-160 // stride))
    assert all(torch.isfinite(f).all() for f in feats)


SEG_CONFIGS = [c for c in CONFIGS if Config.fromfile(
    osp.join(REPO_ROOT, 'configs', c)).default_scope == 'mmseg']


@pytest.mark.parametrize('name', SEG_CONFIGS)
def test_segmentor_loss_and_predict_step(name):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', name))
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor.size = (128, 160)
    model = revert_sync_batchnorm(build_in_scope(cfg.model, 'mmseg')).train()
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
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is not None for p in model.backbone.parameters())
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(data, False), mode='predict')
    assert results[0].pred_sem_seg.data.shape == (1, 128, 160)
    assert int(results[0].pred_sem_seg.data.max()) < num_classes
