"""Parameter and MAC counts, measured the way the papers report them."""
import copy
import math
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer

from mmevit.models.backbones.efficientvit_m import EfficientViT


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: Sequence[int] = (1, 3, 224, 224)) -> int:
    """Multiply-accumulates of one forward pass of the deployed (BN-folded) model.

    Convolutions and matrix products are counted (fvcore's rules, as mmengine implements
    them); BatchNorm is folded into the convs first, as in the papers' counts.
    """
    model = copy.deepcopy(model).eval()
    if hasattr(model, 'switch_to_deploy'):
        model.switch_to_deploy()
    analyzer = FlopAnalyzer(model, torch.randn(*input_shape))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return int(analyzer.total())


def efficientvit_m_imagenet_complexity(arch: str, img_size: int = 224,
                                       num_classes: int = 1000) -> dict:
    """Params and MACs of the authors' ImageNet classifier for an M-series arch.

    The classifier attends in windows of ``min(7, resolution)`` per stage (4x4 in stage 3 at
    224) and ends with global pooling, BatchNorm1d and a linear layer.
    """
    sides = [math.ceil(img_size / 16 / 2 ** i) for i in range(3)]
    backbone = EfficientViT(arch, window_size=[min(7, s) for s in sides])
    channels = backbone.embed_dims[-1]
    head_params = 2 * channels + channels * num_classes + num_classes
    return dict(
        params=count_params(backbone) + head_params,
        macs=count_macs(backbone, (1, 3, img_size, img_size)) + channels * num_classes)
