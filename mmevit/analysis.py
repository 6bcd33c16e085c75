"""Parameter and MAC counts, measured the way the papers report them."""
import math
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer

from mmevit.deploy import deployed_copy, fast_path
from mmevit.models.backbones.efficientvit_m import EfficientViT


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: Sequence[int] = (1, 3, 224, 224)) -> int:
    """Multiply-accumulates of one forward pass of the deployed (BN-folded) model.

    Convolutions and matrix products are counted (fvcore's rules, as mmengine implements
    them); BatchNorm is folded into the convs first, as in the papers' counts.
    """
    model = deployed_copy(model)
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


class _TensorForward(nn.Module):
    """``model._forward(inputs, data_samples)`` as a one-argument module, for tracing."""

    def __init__(self, model: nn.Module, data_samples):
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs):
        return self.model._forward(inputs, self.data_samples)


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
    from mmengine.structures import InstanceData

    from mmevit.apis import build_model
    scope = cfg.default_scope
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample
    else:
        from mmseg.structures import SegDataSample as DetDataSample
    model = build_model(cfg)
    params = count_params(model)
    fast_path(model)
    h, w = input_shape[2:]
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                         batch_input_shape=(h, w), scale_factor=(1., 1.)))
    sample.gt_instances = InstanceData()
    with DefaultScope.overwrite_default_scope(scope):
        analyzer = FlopAnalyzer(_TensorForward(model, [sample]), torch.randn(*input_shape))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        macs = int(analyzer.total())
    return dict(params=params, macs=macs)
