"""The one place where mmevit's models and data transforms enter the OpenMMLab registries.

mmdet and mmseg keep separate ``MODELS`` registries (scopes ``mmdet`` and ``mmseg``); a config
resolves ``type='EfficientViTM'`` in the scope its ``default_scope`` names. Registering every
model in both lets the same backbone serve detection and segmentation configs. This module
imports nothing from mmevit; Runner pieces (hooks, optimizer wrappers) register themselves in
mmengine's root registries where they are defined (:mod:`mmevit.engine`).
"""
from typing import Sequence

from mmdet.registry import MODELS as DET_MODELS
from mmdet.registry import TRANSFORMS as DET_TRANSFORMS
from mmseg.registry import MODELS as SEG_MODELS
from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS

MODEL_REGISTRIES = (DET_MODELS, SEG_MODELS)
TRANSFORM_REGISTRIES = (DET_TRANSFORMS, SEG_TRANSFORMS)


def register_model(cls=None, *, aliases: Sequence[str] = ()):
    """Class decorator: register ``cls`` in mmdet's and mmseg's MODELS under its own name and
    any ``aliases`` (older names that existing configs use)."""
    def register(cls):
        for registry in MODEL_REGISTRIES:
            registry.register_module(module=cls)
            for alias in aliases:
                registry.register_module(name=alias, module=cls)
        return cls
    return register(cls) if cls is not None else register


def register_transform(cls):
    """Class decorator: register a data transform in mmdet's and mmseg's TRANSFORMS."""
    for registry in TRANSFORM_REGISTRIES:
        registry.register_module(module=cls)
    return cls
