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
    if init_cfg is not None:  # ImageNet weights are expected at a path the user sets
        assert init_cfg.type == 'Pretrained' and init_cfg.checkpoint.startswith('pretrained/')
        cfg.model.backbone.init_cfg = None
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
