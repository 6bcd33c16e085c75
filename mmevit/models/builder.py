"""Building models: which backbone class builds arch X, and a whole detector or segmentor
from a config (the one lookup and the one builder tools, benchmarks and tests use)."""
import copy
from typing import Tuple

import torch.nn as nn
from mmengine.config import Config

from mmevit.models.backbones import EfficientViTB, EfficientViTL, EfficientViTM

#: The task of a config, by its ``default_scope``.
TASKS = {'mmdet': 'detection', 'mmseg': 'segmentation'}

BACKBONE_FAMILIES = (EfficientViTM, EfficientViTB, EfficientViTL)
#: Every named arch, family by family (``m0``..``m5``, ``b0``..``b3``, ``l1``, ``l2``).
ARCHS: Tuple[str, ...] = tuple(arch for cls in BACKBONE_FAMILIES for arch in cls.arch_settings)


def backbone_class(arch: str) -> type:
    """The backbone class whose ``arch_settings`` name ``arch`` (case-insensitive)."""
    for cls in BACKBONE_FAMILIES:
        if arch.lower() in cls.arch_settings:
            return cls
    raise ValueError(f'Unknown arch {arch!r}; expected one of {list(ARCHS)}')


def build_backbone(arch: str, **kwargs) -> nn.Module:
    """``backbone_class(arch)(arch, **kwargs)``, e.g.
    ``build_backbone('m4', out_indices=(2, ))``."""
    return backbone_class(arch)(arch, **kwargs)


def task_of(cfg: Config) -> str:
    """'detection' or 'segmentation', from the config's ``default_scope``."""
    scope = cfg.get('default_scope')
    if scope not in TASKS:
        raise ValueError(f'Config default_scope must be one of {sorted(TASKS)} to pick the '
                         f'task, got {scope!r}')
    return TASKS[scope]


def build_model(cfg: Config, device: str = 'cpu'):
    """The config's detector or segmentor in eval mode with random weights (the backbone's
    ``init_cfg`` is dropped) and SyncBN replaced by BN: for analysis, benchmarks, export,
    checkpoint conversion and tests."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import DefaultScope
    if task_of(cfg) == 'detection':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    else:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone.init_cfg = None
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model = revert_sync_batchnorm(model).to(device)
    model.eval()
    return model
