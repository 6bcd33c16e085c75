"""Which backbone class builds arch X: the one lookup tools, benchmarks and tests use."""
from typing import Tuple

import torch.nn as nn

from mmevit.models.backbones import EfficientViTB, EfficientViTL, EfficientViTM

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
