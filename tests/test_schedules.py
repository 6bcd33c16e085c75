"""The segmentation recipe does what its file says: the learning rate over a whole run, read
from the schedulers the configs build."""
import math
import os.path as osp

import pytest
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS

from conftest import REPO_ROOT


def learning_rates(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    optim = build_optim_wrapper(nn.Linear(2, 2), cfg.optim_wrapper)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=optim)) for s in cfg.param_scheduler]
    lrs = []
    for _ in range(cfg.train_cfg.max_iters):
        lrs.append(optim.get_lr()['lr'][0])
        for scheduler in schedulers:
            scheduler.step()
    return cfg, lrs


@pytest.mark.parametrize('config, total_batch', [('efficientvit_seg_b1_ade20k.py', 16),
                                                 ('efficientvit_seg_l1_cityscapes.py', 8)])
def test_cosine_decay_after_warm_up(config, total_batch):
    cfg, lrs = learning_rates(config)
    peak, warmup, end = 1e-3, 1500, 160_000
    assert len(lrs) == end and cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert lrs[0] == pytest.approx(peak * 1e-6)  # the warm-up's start
    assert lrs[warmup // 2] == pytest.approx(peak / 2, rel=1e-3)  # linear
    assert max(lrs) == pytest.approx(peak) and lrs[warmup] == pytest.approx(peak)
    decay = lrs[warmup:]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    for fraction in (0.25, 0.5, 0.75):  # cosine, not poly (poly: 1 - fraction)
        at = warmup + int(fraction * (end - warmup))
        assert lrs[at] == pytest.approx(peak * (1 + math.cos(math.pi * fraction)) / 2, rel=1e-3)
    assert lrs[-1] < peak * 1e-6  # to 0
    # weight decay 0.1, none on norms and biases; the lr is for the dataset file's total batch
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.1
    assert cfg.optim_wrapper.paramwise_cfg == dict(norm_decay_mult=0., bias_decay_mult=0.)
    assert cfg.auto_scale_lr.base_batch_size == total_batch == 8 * cfg.train_dataloader.batch_size


def test_every_bl_segmentation_config_takes_this_recipe():
    import glob
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', 'efficientvit_seg_*.py')):
        cfg = Config.fromfile(path)
        assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'CosineAnnealingLR'], path
        with open(path) as f:
            header = f.read()
        assert 'no model was trained here' in header or '_base_ = \'./efficientvit_seg_' in header
