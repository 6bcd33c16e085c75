"""Building blocks the MIT family's backbones (EfficientViT-B and -L) and their segmentation
head share. Norms and activations come from configs (mmcv's ``build_norm_layer`` and
``build_activation_layer``), so ``norm_cfg=dict(type='SyncBN')`` reaches every one of them;
module names follow timm's ``efficientvit_mit`` (``conv``/``norm``/``act``), which the
authors' and timm's checkpoints map onto.
"""
from typing import Optional

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer

#: The authors' defaults: BatchNorm, and Hardswish in the B-series.
BN = dict(type='BN')
HSWISH = dict(type='HSwish')


class ConvNormAct(nn.Module):
    """Conv2d ('same' padding), then a norm layer and an activation, each optional.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd square kernel size. Defaults to 3.
        stride (int): Convolution stride. Defaults to 1.
        groups (int): Convolution groups. Defaults to 1.
        bias (bool): Conv bias (where no norm follows). Defaults to False.
        norm_cfg (dict, optional): Norm layer after the conv; None for none. Defaults to BN.
        act_cfg (dict, optional): Activation after the norm; None for none. Defaults to None.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1, bias: bool = False,
                 norm_cfg: Optional[dict] = BN, act_cfg: Optional[dict] = None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                              groups=groups, bias=bias)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1] if norm_cfg else nn.Identity()
        self.act = build_activation_layer(act_cfg) if act_cfg else nn.Identity()

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class DSConv(nn.Module):
    """Depthwise 3x3 (norm, act) then pointwise 1x1 (norm): the B-series stem's block.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation. Defaults to Hardswish.
    """

    def __init__(self, in_channels: int, out_channels: int, *, norm_cfg: dict = BN,
                 act_cfg: dict = HSWISH):
        super().__init__()
        self.depth_conv = ConvNormAct(in_channels, in_channels, 3, groups=in_channels,
                                      norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.point_conv = ConvNormAct(in_channels, out_channels, 1, norm_cfg=norm_cfg)

    def forward(self, x):
        return self.point_conv(self.depth_conv(x))


class ConvBlock(nn.Module):
    """3x3 conv (norm, act), 3x3 conv (norm): the L-series stem's block (MIT's ``ResBlock``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation. Defaults to Hardswish.
    """

    def __init__(self, in_channels: int, out_channels: int, *, norm_cfg: dict = BN,
                 act_cfg: dict = HSWISH):
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, in_channels, 3, norm_cfg=norm_cfg,
                                 act_cfg=act_cfg)
        self.conv2 = ConvNormAct(in_channels, out_channels, 3, norm_cfg=norm_cfg)

    def forward(self, x):
        return self.conv2(self.conv1(x))


class MBConv(nn.Module):
    """Inverted bottleneck: 1x1 expand (act), 3x3 depthwise (act), 1x1 project (norm).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Depthwise stride. Defaults to 1.
        expand_ratio (float): Hidden width over ``in_channels``. Defaults to 4.
        fewer_norm (bool): A norm after the projection only, biases on the first two convs
            instead (the attention stages and the L-series). Defaults to False.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation. Defaults to Hardswish.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1,
                 expand_ratio: float = 4, fewer_norm: bool = False, norm_cfg: dict = BN,
                 act_cfg: dict = HSWISH):
        super().__init__()
        mid = round(in_channels * expand_ratio)
        inner_norm = None if fewer_norm else norm_cfg
        self.inverted_conv = ConvNormAct(in_channels, mid, 1, bias=fewer_norm,
                                         norm_cfg=inner_norm, act_cfg=act_cfg)
        self.depth_conv = ConvNormAct(mid, mid, 3, stride, groups=mid, bias=fewer_norm,
                                      norm_cfg=inner_norm, act_cfg=act_cfg)
        self.point_conv = ConvNormAct(mid, out_channels, 1, norm_cfg=norm_cfg)

    def forward(self, x):
        return self.point_conv(self.depth_conv(self.inverted_conv(x)))


class FusedMBConv(nn.Module):
    """Fused inverted bottleneck: 3x3 expand (norm, act), 1x1 project (norm).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the 3x3 conv. Defaults to 1.
        expand_ratio (float): Hidden width over ``in_channels``. Defaults to 4.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation. Defaults to Hardswish.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1,
                 expand_ratio: float = 4, norm_cfg: dict = BN, act_cfg: dict = HSWISH):
        super().__init__()
        mid = round(in_channels * expand_ratio)
        self.spatial_conv = ConvNormAct(in_channels, mid, 3, stride, norm_cfg=norm_cfg,
                                        act_cfg=act_cfg)
        self.point_conv = ConvNormAct(mid, out_channels, 1, norm_cfg=norm_cfg)

    def forward(self, x):
        return self.point_conv(self.spatial_conv(x))


class ResidualBlock(nn.Module):
    """``main(x) + x``, or ``main(x)`` alone when ``shortcut`` is False (downsampling)."""

    def __init__(self, main: nn.Module, shortcut: bool = True):
        super().__init__()
        self.main = main
        self.shortcut = shortcut

    def forward(self, x):
        return self.main(x) + x if self.shortcut else self.main(x)
