"""The MIT family: EfficientViT-B0..B3 and L1/L2, multi-scale linear attention for
high-resolution dense prediction.

Cai et al., ICCV 2023 (https://arxiv.org/abs/2205.14756); the authors' code is
mit-han-lab/efficientvit. Module and parameter names follow timm's ``efficientvit_mit`` (stem
``in_conv``/``res{i}``, ``stages.{i}.blocks.{j}``); the authors' checkpoints
(``backbone.input_stem.op_list...``/``backbone.stages.{i}.op_list...`` for B,
``backbone.stages.{0..4}.op_list...`` for L) are renamed by
:func:`mmevit.models.converters.convert_official_mit_keys`.
"""
from functools import partial
from typing import Callable, Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmevit.models.backbones.base import StagedBackbone, forward_blocks
from mmevit.models.converters import filter_mit_checkpoint, is_official_mit_layout
from mmevit.registry import register_model


class ConvNormAct(nn.Module):
    """Conv2d ('same' padding), optional BatchNorm, optional activation.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd square kernel size.
        stride (int): Convolution stride.
        groups (int): Convolution groups.
        bias (bool): Conv bias (used where no BatchNorm follows).
        norm (bool): Follow the conv with BatchNorm2d.
        act (callable, optional): Activation factory (a class or a partial), or None.
        norm_eps (float): BatchNorm eps.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1, bias: bool = False, norm: bool = True,
                 act: Optional[Callable] = None, norm_eps: float = 1e-5):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                              groups=groups, bias=bias)
        self.norm = nn.BatchNorm2d(out_channels, eps=norm_eps) if norm else nn.Identity()
        self.act = act() if act is not None else nn.Identity()

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class DSConv(nn.Module):
    """Depthwise 3x3 (BN, act) then pointwise 1x1 (BN)."""

    def __init__(self, in_channels: int, out_channels: int, act: Callable,
                 norm_eps: float = 1e-5):
        super().__init__()
        self.depth_conv = ConvNormAct(in_channels, in_channels, 3, groups=in_channels, act=act,
                                      norm_eps=norm_eps)
        self.point_conv = ConvNormAct(in_channels, out_channels, 1, norm_eps=norm_eps)

    def forward(self, x):
        return self.point_conv(self.depth_conv(x))


class MBConv(nn.Module):
    """Inverted bottleneck: 1x1 expand (act), 3x3 depthwise (act), 1x1 project.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Depthwise stride.
        expand_ratio (float): Hidden width over ``in_channels``.
        act (callable): Activation factory.
        fewer_norm (bool): BatchNorm only after the projection, with biases on the first two
            convs instead (the transformer stages).
        norm_eps (float): BatchNorm eps.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 expand_ratio: float = 4, act: Callable = nn.Hardswish, fewer_norm: bool = False,
                 norm_eps: float = 1e-5):
        super().__init__()
        mid = round(in_channels * expand_ratio)
        self.inverted_conv = ConvNormAct(in_channels, mid, 1, bias=fewer_norm, norm=not fewer_norm,
                                         act=act, norm_eps=norm_eps)
        self.depth_conv = ConvNormAct(mid, mid, 3, stride, groups=mid, bias=fewer_norm,
                                      norm=not fewer_norm, act=act, norm_eps=norm_eps)
        self.point_conv = ConvNormAct(mid, out_channels, 1, norm_eps=norm_eps)

    def forward(self, x):
        return self.point_conv(self.depth_conv(self.inverted_conv(x)))


class FusedMBConv(nn.Module):
    """Fused inverted bottleneck: 3x3 expand (act), 1x1 project; the L-series' early stages.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the 3x3 conv.
        expand_ratio (float): Hidden width over ``in_channels``.
        act (callable): Activation factory.
        norm_eps (float): BatchNorm eps.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 expand_ratio: float = 4, act: Callable = nn.Hardswish,
                 norm_eps: float = 1e-5):
        super().__init__()
        mid = round(in_channels * expand_ratio)
        self.spatial_conv = ConvNormAct(in_channels, mid, 3, stride, act=act, norm_eps=norm_eps)
        self.point_conv = ConvNormAct(mid, out_channels, 1, norm_eps=norm_eps)

    def forward(self, x):
        return self.point_conv(self.spatial_conv(x))


class ConvBlock(nn.Module):
    """3x3 conv (act), 3x3 conv: the L-series stem's residual block (MIT's ``ResBlock``)."""

    def __init__(self, in_channels: int, out_channels: int, act: Callable,
                 norm_eps: float = 1e-5):
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, in_channels, 3, act=act, norm_eps=norm_eps)
        self.conv2 = ConvNormAct(in_channels, out_channels, 3, norm_eps=norm_eps)

    def forward(self, x):
        return self.conv2(self.conv1(x))


class ResidualBlock(nn.Module):
    """``main(x) + x``, or ``main(x)`` alone when ``shortcut`` is False (downsampling)."""

    def __init__(self, main: nn.Module, shortcut: bool = True):
        super().__init__()
        self.main = main
        self.shortcut = shortcut

    def forward(self, x):
        return self.main(x) + x if self.shortcut else self.main(x)


class LiteMLA(nn.Module):
    """Lightweight multi-scale ReLU linear attention.

    q, k, v come from a 1x1 conv; each extra scale aggregates them with a depthwise KxK conv
    and a grouped 1x1 conv, which doubles the number of heads. Attention is
    ``relu(q) (relu(k)^T v) / (relu(q) sum(relu(k)) + eps)``, computed in float32 even under
    autocast (the normaliser overflows in half precision). Maps with no more pixels than a head
    has channels use the equivalent quadratic form, which is then cheaper.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        head_dim (int): Channels per head.
        scales (Sequence[int]): Kernel sizes of the extra aggregation scales.
        eps (float): Normaliser epsilon.
        norm_eps (float): BatchNorm eps of the projection.
    """

    def __init__(self, in_channels: int, out_channels: int, head_dim: int = 32,
                 scales: Sequence[int] = (5,), eps: float = 1e-15, norm_eps: float = 1e-5):
        super().__init__()
        heads = in_channels // head_dim
        total_dim = heads * head_dim
        self.head_dim = head_dim
        self.eps = eps
        self.qkv = ConvNormAct(in_channels, 3 * total_dim, 1, norm=False)
        self.aggreg = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(3 * total_dim, 3 * total_dim, scale, padding=scale // 2,
                          groups=3 * total_dim, bias=False),
                nn.Conv2d(3 * total_dim, 3 * total_dim, 1, groups=3 * heads, bias=False))
            for scale in scales)
        self.kernel_func = nn.ReLU()
        self.proj = ConvNormAct(total_dim * (1 + len(scales)), out_channels, 1, norm_eps=norm_eps)

    def _split_heads(self, qkv):
        B, _, H, W = qkv.shape
        qkv = qkv.reshape(B, -1, 3 * self.head_dim, H * W)
        d = self.head_dim
        q, k, v = qkv[:, :, :d], qkv[:, :, d:2 * d], qkv[:, :, 2 * d:]
        return self.kernel_func(q), self.kernel_func(k), v

    def linear_attention(self, qkv):
        B, _, H, W = qkv.shape
        q, k, v = self._split_heads(qkv)
        v = F.pad(v, (0, 0, 0, 1), mode='constant', value=1.)  # a row of ones: the normaliser
        out = (v @ k.transpose(-1, -2)) @ q
        out = out[:, :, :-1] / (out[:, :, -1:] + self.eps)
        return out.reshape(B, -1, H, W)

    def quadratic_attention(self, qkv):
        B, _, H, W = qkv.shape
        q, k, v = self._split_heads(qkv)
        attn = k.transpose(-1, -2) @ q
        attn = attn / (attn.sum(dim=2, keepdim=True) + self.eps)
        return (v @ attn).reshape(B, -1, H, W)

    def forward(self, x):
        qkv = self.qkv(x)
        qkv = torch.cat([qkv] + [op(qkv) for op in self.aggreg], dim=1)
        H, W = qkv.shape[-2:]
        with torch.autocast(device_type=qkv.device.type, enabled=False):
            # half precision overflows in the normaliser; float64 stays float64
            full = qkv.float() if qkv.dtype in (torch.float16, torch.bfloat16) else qkv
            if H * W > self.head_dim:
                out = self.linear_attention(full)
            else:
                out = self.quadratic_attention(full)
        return self.proj(out.to(qkv.dtype))


class LiteMLABlock(nn.Module):
    """Residual LiteMLA (global context) then residual MBConv (local detail): the attention
    block of both series (MIT's and timm's ``EfficientViTBlock``)."""

    def __init__(self, channels: int, head_dim: int, expand_ratio: float, act: Callable,
                 norm_eps: float = 1e-5):
        super().__init__()
        self.context_module = ResidualBlock(
            LiteMLA(channels, channels, head_dim, norm_eps=norm_eps))
        self.local_module = ResidualBlock(
            MBConv(channels, channels, expand_ratio=expand_ratio, act=act, fewer_norm=True,
                   norm_eps=norm_eps))

    def forward(self, x):
        return self.local_module(self.context_module(x))


class Stem(nn.Sequential):
    """3x3 stride-2 conv, then ``depth`` residual blocks: DSConvs (B) or ConvBlocks (L)."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, act: Callable,
                 block: type = DSConv, norm_eps: float = 1e-5):
        super().__init__()
        self.add_module('in_conv', ConvNormAct(in_channels, out_channels, 3, 2, act=act,
                                               norm_eps=norm_eps))
        for i in range(depth):
            self.add_module(f'res{i}', ResidualBlock(
                block(out_channels, out_channels, act, norm_eps=norm_eps)))


class EfficientViTBStage(nn.Module):
    """A stride-2 MBConv, then MBConvs (convolutional stage) or attention blocks.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        depth (int): Blocks after the downsampling one (convolutional stages count it).
        vit_stage (bool): Use :class:`LiteMLABlock` (stages 3-4).
        head_dim (int): Attention channels per head.
        expand_ratio (float): MBConv expansion.
        act (callable): Activation factory.
        with_cp (bool): Checkpoint each block in training.
    """

    def __init__(self, in_channels: int, out_channels: int, depth: int, vit_stage: bool,
                 head_dim: int, expand_ratio: float, act: Callable, with_cp: bool = False):
        super().__init__()
        blocks = [ResidualBlock(MBConv(in_channels, out_channels, 2, expand_ratio, act,
                                       fewer_norm=vit_stage), shortcut=False)]
        if vit_stage:
            blocks += [LiteMLABlock(out_channels, head_dim, expand_ratio, act)
                       for _ in range(depth)]
        else:
            blocks += [ResidualBlock(MBConv(out_channels, out_channels, 1, expand_ratio, act))
                       for _ in range(depth - 1)]
        self.blocks = nn.Sequential(*blocks)
        self.with_cp = with_cp

    def forward(self, x):
        return forward_blocks(self.blocks, x, self.with_cp)


class MITBackbone(StagedBackbone):
    """What the B- and L-series share: a stem and 4 stages whose last ones attend, custom
    arch dicts of ``widths`` and ``depths`` (stem + 4 stages) and ``head_dim``, and the
    authors' checkpoints (:func:`mmevit.models.converters.filter_mit_checkpoint`).

    Subclasses build ``stem`` and ``stages`` from ``widths``, ``depths`` and ``head_dim``,
    then call ``_freeze_stages()``.

    Args:
        arch (str | dict): A key of ``arch_settings`` or a custom arch dict.
        out_indices (Sequence[int]): Stages whose outputs are returned.
        frozen_stages (int): Freeze the stem (0) and the stages up to this one (1-based);
            -1 freezes nothing.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training.
        init_cfg (dict, optional): mmengine's initialisation config.
    """

    attention_stages = 2  # how many of the last stages are made of attention blocks

    def __init__(self, arch: Union[str, dict], out_indices: Sequence[int], frozen_stages: int,
                 norm_eval: bool, init_cfg: Optional[dict]):
        settings = self._resolve_arch(arch)
        super().__init__(4, out_indices, frozen_stages, norm_eval, init_cfg)
        self.widths = tuple(settings['widths'])
        self.depths = tuple(settings['depths'])
        self.head_dim = settings['head_dim']
        self.feature_info = [dict(num_chs=self.widths[i + 1], reduction=4 * 2 ** i,
                                  module=f'stages.{i}') for i in range(4)]

    @classmethod
    def _check_custom_arch(cls, arch: dict) -> None:
        missing = [k for k in ('widths', 'depths', 'head_dim') if k not in arch]
        if missing:
            raise ValueError(f'Custom arch dict lacks {missing}; it needs widths, depths '
                             f'(5 entries each: stem + 4 stages) and head_dim')
        if len(arch['widths']) != 5 or len(arch['depths']) != 5:
            raise ValueError(f'widths and depths need 5 entries (stem + 4 stages), got '
                             f'{arch["widths"]} and {arch["depths"]}')
        attending = tuple(arch['widths'][-cls.attention_stages:])
        if any(w % arch['head_dim'] for w in attending):
            raise ValueError(f'The attention stages\' widths {attending} must be '
                             f'multiples of head_dim={arch["head_dim"]}')

    def filter_checkpoint(self, checkpoint: dict) -> Dict[str, torch.Tensor]:
        return filter_mit_checkpoint(checkpoint, self)

    def foreign_layout(self, state_dict: Dict[str, torch.Tensor]) -> Optional[str]:
        if is_official_mit_layout(state_dict):
            return "the authors' EfficientViT layout (mit-han-lab/efficientvit)"
        return None


@register_model
class EfficientViTB(MITBackbone):
    """EfficientViT-B backbone (strides 4, 8, 16, 32).

    Args:
        arch (str | dict): ``'b0'`` .. ``'b3'``, or a dict with ``widths`` (stem + 4 stages),
            ``depths`` (stem + 4 stages) and ``head_dim``. Defaults to ``'b1'``.
        in_channels (int): Input image channels. Defaults to 3.
        expand_ratio (float): MBConv expansion. Defaults to 4.
        out_indices (Sequence[int]): Stages whose outputs are returned. Defaults to
            (0, 1, 2, 3).
        frozen_stages (int): Freeze the stem (0) and the stages up to this one (1-based);
            -1 freezes nothing. Defaults to -1.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training. Defaults to False.
        with_cp (bool): Gradient checkpointing of each block. Defaults to False.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)`` loads the
            authors' classification or segmentation checkpoints, timm's ``efficientvit_b*``,
            detector/segmentor checkpoints and mmevit's own (see
            :func:`mmevit.models.converters.filter_mit_checkpoint`). Defaults to None.

    Attributes:
        feature_info (list[dict]): timm's description of every stage's output
            (``num_chs``, ``reduction``, ``module``), for timm-style feature consumers.
    """

    arch_family = 'EfficientViT-B'
    arch_settings = {
        'b0': dict(widths=(8, 16, 32, 64, 128), depths=(1, 2, 2, 2, 2), head_dim=16),
        'b1': dict(widths=(16, 32, 64, 128, 256), depths=(1, 2, 3, 3, 4), head_dim=16),
        'b2': dict(widths=(24, 48, 96, 192, 384), depths=(1, 3, 4, 4, 6), head_dim=32),
        'b3': dict(widths=(32, 64, 128, 256, 512), depths=(1, 4, 6, 6, 9), head_dim=32),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'b1',
                 in_channels: int = 3,
                 expand_ratio: float = 4,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(arch, out_indices, frozen_stages, norm_eval, init_cfg)
        widths, depths = self.widths, self.depths
        act = nn.Hardswish
        self.stem = Stem(in_channels, widths[0], depths[0], act)
        self.stages = nn.ModuleList(
            EfficientViTBStage(widths[i], widths[i + 1], depths[i + 1], vit_stage=i >= 2,
                               head_dim=self.head_dim, expand_ratio=expand_ratio, act=act,
                               with_cp=with_cp)
            for i in range(4))
        self._freeze_stages()


#: GELU with the tanh approximation, the L-series' activation (MIT's ``'gelu'``).
GELUTanh = partial(nn.GELU, approximate='tanh')


class EfficientViTLStage(nn.Module):
    """An L-series stage: a stride-2 block, then ``depth`` residual blocks of its kind.

    ``'fused'`` (stages 1-2): FusedMBConvs, the downsampling one expanded 16x, the others 4x.
    ``'mbconv'`` (stage 3): MBConvs with BatchNorm only after the projection, 16x then 4x.
    ``'attention'`` (stage 4): an MBConv expanded 24x, then :class:`LiteMLABlock` s whose
    MBConvs expand 6x.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        depth (int): Blocks after the downsampling one.
        kind (str): ``'fused'``, ``'mbconv'`` or ``'attention'``.
        head_dim (int): Attention channels per head.
        act (callable): Activation factory.
        norm_eps (float): BatchNorm eps.
        with_cp (bool): Checkpoint each block in training.
    """

    def __init__(self, in_channels: int, out_channels: int, depth: int, kind: str,
                 head_dim: int, act: Callable, norm_eps: float, with_cp: bool = False):
        super().__init__()
        if kind == 'fused':
            down = FusedMBConv(in_channels, out_channels, 2, 16, act, norm_eps)
            blocks = [ResidualBlock(FusedMBConv(out_channels, out_channels, 1, 4, act, norm_eps))
                      for _ in range(depth)]
        elif kind == 'mbconv':
            down = MBConv(in_channels, out_channels, 2, 16, act, True, norm_eps)
            blocks = [ResidualBlock(MBConv(out_channels, out_channels, 1, 4, act, True, norm_eps))
                      for _ in range(depth)]
        elif kind == 'attention':
            down = MBConv(in_channels, out_channels, 2, 24, act, True, norm_eps)
            blocks = [LiteMLABlock(out_channels, head_dim, 6, act, norm_eps)
                      for _ in range(depth)]
        else:
            raise ValueError(f"kind must be 'fused', 'mbconv' or 'attention', got {kind!r}")
        self.blocks = nn.Sequential(ResidualBlock(down, shortcut=False), *blocks)
        self.with_cp = with_cp

    def forward(self, x):
        return forward_blocks(self.blocks, x, self.with_cp)


@register_model
class EfficientViTL(MITBackbone):
    """EfficientViT-L backbone (strides 4, 8, 16, 32), as the authors build it
    (``EfficientViTLargeBackbone``, mit-han-lab/efficientvit de7d773):

    - activation: GELU with the tanh approximation (:data:`GELUTanh`) everywhere but in the
      linear attention, whose kernel is ReLU;
    - BatchNorm eps 1e-7, as the authors' model zoo sets it on every L model
      (``set_norm_eps(model, 1e-7)``);
    - stem: a 3x3 stride-2 conv and residual :class:`ConvBlock` s (stride 2);
    - stages 1-2: FusedMBConvs; stage 3: MBConvs with fewer norms; stage 4: LiteMLA blocks
      (head dim 32, one extra scale of 5x5, quadratic form on maps of at most 32 pixels), the
      only attention.

    Args:
        arch (str | dict): ``'l1'`` or ``'l2'``, or a dict with ``widths`` (stem + 4 stages),
            ``depths`` (stem + 4 stages) and ``head_dim``. Defaults to ``'l1'``.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages whose outputs are returned. Defaults to
            (0, 1, 2, 3).
        frozen_stages (int): Freeze the stem (0) and the stages up to this one (1-based);
            -1 freezes nothing. Defaults to -1.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training. Defaults to False.
        with_cp (bool): Gradient checkpointing of each block. Defaults to False.
        norm_eps (float): BatchNorm eps. Defaults to 1e-7.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)`` loads the
            authors' classification or segmentation checkpoints, timm's ``efficientvit_l*``,
            detector/segmentor checkpoints and mmevit's own (see
            :func:`mmevit.models.converters.filter_mit_checkpoint`). Defaults to None.

    Attributes:
        feature_info (list[dict]): timm's description of every stage's output
            (``num_chs``, ``reduction``, ``module``), for timm-style feature consumers.
    """

    arch_family = 'EfficientViT-L'
    arch_settings = {
        'l1': dict(widths=(32, 64, 128, 256, 512), depths=(1, 1, 1, 6, 6), head_dim=32),
        'l2': dict(widths=(32, 64, 128, 256, 512), depths=(1, 2, 2, 8, 8), head_dim=32),
    }
    attention_stages = 1
    stage_kinds = ('fused', 'fused', 'mbconv', 'attention')

    def __init__(self,
                 arch: Union[str, dict] = 'l1',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 norm_eps: float = 1e-7,
                 init_cfg: Optional[dict] = None):
        super().__init__(arch, out_indices, frozen_stages, norm_eval, init_cfg)
        widths, depths = self.widths, self.depths
        self.stem = Stem(in_channels, widths[0], depths[0], GELUTanh, ConvBlock, norm_eps)
        self.stages = nn.ModuleList(
            EfficientViTLStage(widths[i], widths[i + 1], depths[i + 1], kind, self.head_dim,
                               GELUTanh, norm_eps, with_cp)
            for i, kind in enumerate(self.stage_kinds))
        self._freeze_stages()
