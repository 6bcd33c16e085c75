"""The one place where mmevit's classes enter the OpenMMLab registries.

mmdet and mmseg keep separate ``MODELS`` registries (scopes ``mmdet`` and ``mmseg``); a config
resolves ``type='EfficientViT'`` in the scope named by its ``default_scope``. Registering every
model in both lets the same backbone serve detection and segmentation configs. Optimizer
wrappers and hooks go into mmengine's root registries, which both scopes fall back to.
"""
from mmdet.registry import MODELS as DET_MODELS
from mmengine.registry import HOOKS, OPTIM_WRAPPERS
from mmseg.registry import MODELS as SEG_MODELS

from mmevit.engine import BF16AutocastOptimWrapper, FastPathHook

MODEL_REGISTRIES = (DET_MODELS, SEG_MODELS)

OPTIM_WRAPPERS.register_module(module=BF16AutocastOptimWrapper)
HOOKS.register_module(module=FastPathHook)


def register_model(cls):
    """Class decorator: register ``cls`` under its own name in mmdet's and mmseg's MODELS."""
    for registry in MODEL_REGISTRIES:
        registry.register_module(module=cls)
    return cls
