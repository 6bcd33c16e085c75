"""Parameter and MAC counts, measured the way the papers report them."""
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer

from mmevit.deploy import TensorForward, deployed_copy, fast_path
from mmevit.models import EfficientViTL, EfficientViTM

#: The ImageNet classifiers at 224x224 as published, params (M) and MACs (M): Table 1 of Liu
#: et al., CVPR 2023 for M0..M5; the authors' model zoo (mit-han-lab/efficientvit,
#: applications/efficientvit_cls/README.md: "53M", "5.3G"...) for L1/L2, to that precision.
PAPER_COMPLEXITY = {'m0': (2.35, 79), 'm1': (2.98, 167), 'm2': (4.19, 201),
                    'm3': (6.90, 263), 'm4': (8.80, 299), 'm5': (12.47, 522),
                    'l1': (53, 5300), 'l2': (64, 6900)}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _count_macs(model: nn.Module, inputs: torch.Tensor) -> int:
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return int(analyzer.total())


def count_macs(model: nn.Module, input_shape: Sequence[int] = (1, 3, 224, 224)) -> int:
    """Multiply-accumulates of one forward pass of the deployed (BN-folded) model.

    Convolutions and matrix products are counted (fvcore's rules, as mmengine implements
    them); BatchNorm is folded into the convs first, as in the papers' counts.
    """
    return _count_macs(deployed_copy(model), torch.randn(*input_shape))


def imagenet_complexity(arch: str, img_size: int = 224, num_classes: int = 1000) -> dict:
    """Params and MACs of the authors' ImageNet classifier for an M- or L-series arch.

    M: the backbone attends in :meth:`EfficientViTM.imagenet_window_sizes`; the head is
    global pooling, BatchNorm1d and a linear layer. L: the head is a 1x1 conv to 3072
    channels with BatchNorm, pooling, a linear layer to 3200 without bias, LayerNorm and the
    classifier (the authors' ``ClsHead``; GELUs and pooling count no MACs).
    """
    if arch in EfficientViTM.arch_settings:
        backbone = EfficientViTM(arch,
                                 window_size=EfficientViTM.imagenet_window_sizes(img_size))
        channels = backbone.embed_dims[-1]
        head_params = 2 * channels + channels * num_classes + num_classes
        head_macs = channels * num_classes
    elif arch in EfficientViTL.arch_settings:
        backbone = EfficientViTL(arch)
        channels, (conv, linear) = backbone.widths[-1], (3072, 3200)
        side = -(-img_size // 32)
        head_params = (channels * conv + 2 * conv + conv * linear + 2 * linear
                       + linear * num_classes + num_classes)
        head_macs = channels * conv * side * side + conv * linear + linear * num_classes
    else:
        raise ValueError(f'No ImageNet classifier is modelled for arch {arch!r}; expected one '
                         f'of {list(PAPER_COMPLEXITY)}')
    return dict(params=count_params(backbone) + head_params,
                macs=count_macs(backbone, (1, 3, img_size, img_size)) + head_macs)


def model_complexity(cfg, input_shape: Sequence[int]) -> dict:
    """Params and MACs of a whole detector or segmentor built from a config.

    The network runs in ``tensor`` mode (mmdet's and mmseg's ``get_flops`` convention):
    backbone, neck and heads, without box decoding, NMS or resizing of the logits; two-stage
    detectors count their RoI heads on the RPN's proposals. BatchNorm is folded first.

    Args:
        cfg (Config): A project config (its backbone ``init_cfg`` is ignored).
        input_shape (Sequence[int]): ``(N, C, H, W)`` of the input tensor.
    """
    from mmengine.registry import DefaultScope

    from mmevit.models import build_model
    model = build_model(cfg)
    params = count_params(model)
    network = TensorForward(fast_path(model), with_roi_heads=True)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        macs = _count_macs(network, torch.randn(*input_shape))
    return dict(params=params, macs=macs)
