"""The MIT family: EfficientViT-B0..B3 and L1/L2, multi-scale linear attention for
high-resolution dense prediction.

Cai et al., ICCV 2023 (https://arxiv.org/abs/2205.14756); the authors' code is
mit-han-lab/efficientvit. Module and parameter names follow timm's ``efficientvit_mit`` (stem
``in_conv``/``res{i}``, ``stages.{i}.blocks.{j}``); the authors' checkpoints
(``backbone.input_stem.op_list...``/``backbone.stages.{i}.op_list...`` for B,
``backbone.stages.{0..4}.op_list...`` for L) are renamed by
:func:`mmevit.models.converters.convert_official_mit_keys`.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmevit.models.backbones.base import StagedBackbone, forward_blocks
from mmevit.models.converters import filter_mit_checkpoint, is_official_mit_layout
from mmevit.models.layers import (BN, HSWISH, ConvBlock, ConvNormAct, DSConv, FusedMBConv,
                                  MBConv, ResidualBlock)
from mmevit.registry import register_model

#: GELU with the tanh approximation, the L-series' activation (MIT's ``'gelu'``).
GELU_TANH = dict(type='GELU', approximate='tanh')


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
        norm_cfg (dict): Norm layer of the projection. Defaults to BN.
    """

    def __init__(self, in_channels: int, out_channels: int, head_dim: int = 32,
                 scales: Sequence[int] = (5,), eps: float = 1e-15, norm_cfg: dict = BN):
        super().__init__()
        heads = in_channels // head_dim
        total_dim = heads * head_dim
        self.head_dim = head_dim
        self.eps = eps
        self.qkv = ConvNormAct(in_channels, 3 * total_dim, 1, norm_cfg=None)
        self.aggreg = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(3 * total_dim, 3 * total_dim, scale, padding=scale // 2,
                          groups=3 * total_dim, bias=False),
                nn.Conv2d(3 * total_dim, 3 * total_dim, 1, groups=3 * heads, bias=False))
            for scale in scales)
        self.kernel_func = nn.ReLU()
        self.proj = ConvNormAct(total_dim * (1 + len(scales)), out_channels, 1,
                                norm_cfg=norm_cfg)

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
    block of both series (MIT's and timm's ``EfficientViTBlock``).

    Args:
        channels (int): Input and output channels.
        head_dim (int): Attention channels per head.
        expand_ratio (float): MBConv expansion.
        norm_cfg (dict): Norm layers.
        act_cfg (dict): MBConv activation (the attention's kernel is ReLU).
    """

    def __init__(self, channels: int, head_dim: int, expand_ratio: float, *, norm_cfg: dict,
                 act_cfg: dict):
        super().__init__()
        self.context_module = ResidualBlock(
            LiteMLA(channels, channels, head_dim, norm_cfg=norm_cfg))
        self.local_module = ResidualBlock(
            MBConv(channels, channels, expand_ratio=expand_ratio, fewer_norm=True,
                   norm_cfg=norm_cfg, act_cfg=act_cfg))

    def forward(self, x):
        return self.local_module(self.context_module(x))


class Stem(nn.Sequential):
    """3x3 stride-2 conv, then ``depth`` residual blocks: DSConvs (B) or ConvBlocks (L)."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, block: type, *,
                 norm_cfg: dict, act_cfg: dict):
        super().__init__()
        self.add_module('in_conv', ConvNormAct(in_channels, out_channels, 3, 2,
                                               norm_cfg=norm_cfg, act_cfg=act_cfg))
        for i in range(depth):
            self.add_module(f'res{i}', ResidualBlock(
                block(out_channels, out_channels, norm_cfg=norm_cfg, act_cfg=act_cfg)))


class MITStage(nn.Module):
    """A stride-2 block, then ``num_blocks`` residual blocks of the stage's kind.

    Kinds: ``'mbconv'`` (MBConvs), ``'fmbconv'`` (FusedMBConvs), ``'attention'``
    (:class:`LiteMLABlock` s after an MBConv). The downsampling block is of the same kind
    (an MBConv for ``'attention'``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        num_blocks (int): Residual blocks after the downsampling one.
        kind (str): ``'mbconv'``, ``'fmbconv'`` or ``'attention'``.
        down_expand (float): Expansion of the downsampling block.
        expand_ratio (float): Expansion of the other blocks (of the MBConvs in attention).
        fewer_norm (bool): MBConvs with a norm after the projection only.
        head_dim (int): Attention channels per head.
        norm_cfg (dict): Norm layers.
        act_cfg (dict): Activation.
        with_cp (bool): Checkpoint each block in training. Defaults to False.
    """

    kinds = ('mbconv', 'fmbconv', 'attention')

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int, kind: str, *,
                 down_expand: float, expand_ratio: float, fewer_norm: bool, head_dim: int,
                 norm_cfg: dict, act_cfg: dict, with_cp: bool = False):
        super().__init__()
        if kind not in self.kinds:
            raise ValueError(f'kind must be one of {self.kinds}, got {kind!r}')
        layers = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        if kind == 'fmbconv':
            def block(c_in, stride, expand):
                return FusedMBConv(c_in, out_channels, stride=stride, expand_ratio=expand,
                                   **layers)
        else:
            def block(c_in, stride, expand):
                return MBConv(c_in, out_channels, stride=stride, expand_ratio=expand,
                              fewer_norm=fewer_norm, **layers)
        blocks = [ResidualBlock(block(in_channels, 2, down_expand), shortcut=False)]
        if kind == 'attention':
            blocks += [LiteMLABlock(out_channels, head_dim, expand_ratio, **layers)
                       for _ in range(num_blocks)]
        else:
            blocks += [ResidualBlock(block(out_channels, 1, expand_ratio))
                       for _ in range(num_blocks)]
        self.blocks = nn.Sequential(*blocks)
        self.with_cp = with_cp

    def forward(self, x):
        return forward_blocks(self.blocks, x, self.with_cp)


class MITBackbone(StagedBackbone):
    """What the B- and L-series share: a stem and 4 :class:`MITStage` s whose last ones
    attend, custom arch dicts of ``widths`` and ``depths`` (stem + 4 stages) and
    ``head_dim``, norm and activation configs, and the authors' checkpoints
    (:func:`mmevit.models.converters.filter_mit_checkpoint`).

    Subclasses set ``stem_block`` and :meth:`stage_layout`.

    Args:
        arch (str | dict): A key of ``arch_settings`` or a custom arch dict.
        in_channels (int): Input image channels.
        out_indices (Sequence[int]): Stages whose outputs are returned.
        frozen_stages (int): Freeze the stem (0) and the stages up to this one (1-based);
            -1 freezes nothing.
        norm_eval (bool): Keep norm layers in eval mode while training.
        with_cp (bool): Gradient checkpointing of each block.
        norm_cfg (dict): Norm layers (``dict(type='SyncBN')`` for synchronised statistics).
        act_cfg (dict): Activation of every conv block (not the attention's ReLU kernel).
        init_cfg (dict, optional): mmengine's initialisation config.
    """

    attention_stages = 2  # how many of the last stages are made of attention blocks
    stem_block: type = DSConv

    def __init__(self, arch: Union[str, dict], in_channels: int, out_indices: Sequence[int],
                 frozen_stages: int, norm_eval: bool, with_cp: bool, norm_cfg: dict,
                 act_cfg: dict, init_cfg: Optional[dict]):
        settings = self._resolve_arch(arch)
        super().__init__(4, out_indices, frozen_stages, norm_eval, init_cfg)
        self.widths = tuple(settings['widths'])
        self.depths = tuple(settings['depths'])
        self.head_dim = settings['head_dim']
        self.feature_info = [dict(num_chs=self.widths[i + 1], reduction=4 * 2 ** i,
                                  module=f'stages.{i}') for i in range(4)]
        layers = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stem = Stem(in_channels, self.widths[0], self.depths[0], self.stem_block,
                         **layers)
        self.stages = nn.ModuleList(
            MITStage(self.widths[i], self.widths[i + 1], num_blocks, head_dim=self.head_dim,
                     with_cp=with_cp, **stage, **layers)
            for i, (num_blocks, stage) in enumerate(self.stage_layout()))

    def stage_layout(self) -> List[Tuple[int, dict]]:
        """Per stage: the residual blocks after the downsampling one, and the other
        :class:`MITStage` arguments (``kind``, ``down_expand``, ``expand_ratio``,
        ``fewer_norm``)."""
        raise NotImplementedError

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
    """EfficientViT-B backbone (strides 4, 8, 16, 32): a stem of DSConvs, two MBConv stages
    and two attention stages, Hardswish.

    Args:
        arch (str | dict): ``'b0'`` .. ``'b3'``, or a dict with ``widths`` (stem + 4 stages),
            ``depths`` (stem + 4 stages, MIT's convention: a convolutional stage's depth
            counts its downsampling block, an attention stage's does not) and ``head_dim``.
            Defaults to ``'b1'``.
        in_channels (int): Input image channels. Defaults to 3.
        expand_ratio (float): MBConv expansion. Defaults to 4.
        out_indices (Sequence[int]): Stages whose outputs are returned. Defaults to
            (0, 1, 2, 3).
        frozen_stages (int): Freeze the stem (0) and the stages up to this one (1-based);
            -1 freezes nothing. Defaults to -1.
        norm_eval (bool): Keep norm layers in eval mode while training. Defaults to False.
        with_cp (bool): Gradient checkpointing of each block. Defaults to False.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='BN')`` (the authors').
        act_cfg (dict): Activation. Defaults to ``dict(type='HSwish')`` (the authors').
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
                 norm_cfg: dict = BN,
                 act_cfg: dict = HSWISH,
                 init_cfg: Optional[dict] = None):
        self.expand_ratio = expand_ratio
        super().__init__(arch, in_channels, out_indices, frozen_stages, norm_eval, with_cp,
                         norm_cfg, act_cfg, init_cfg)

    def stage_layout(self) -> List[Tuple[int, dict]]:
        expand = dict(down_expand=self.expand_ratio, expand_ratio=self.expand_ratio)
        conv = dict(kind='mbconv', fewer_norm=False, **expand)
        attention = dict(kind='attention', fewer_norm=True, **expand)
        return ([(depth - 1, conv) for depth in self.depths[1:3]]
                + [(depth, attention) for depth in self.depths[3:]])


@register_model
class EfficientViTL(MITBackbone):
    """EfficientViT-L backbone (strides 4, 8, 16, 32), as the authors build it
    (``EfficientViTLargeBackbone``, mit-han-lab/efficientvit de7d773):

    - activation: GELU with the tanh approximation (:data:`GELU_TANH`) everywhere but in the
      linear attention, whose kernel is ReLU;
    - BatchNorm eps 1e-7, as the authors' model zoo sets it on every L model
      (``set_norm_eps(model, 1e-7)``);
    - stem: a 3x3 stride-2 conv and residual :class:`~mmevit.models.layers.ConvBlock` s;
    - stages 1-2: FusedMBConvs; stage 3: MBConvs with fewer norms; stage 4: LiteMLA blocks
      (head dim 32, one extra scale of 5x5, quadratic form on maps of at most 32 pixels), the
      only attention; the downsampling blocks expand 16x (24x in stage 4), the others 4x
      (6x).

    Args:
        arch (str | dict): ``'l1'`` or ``'l2'``, or a dict with ``widths`` (stem + 4 stages),
            ``depths`` (stem + 4 stages: blocks after the downsampling one) and ``head_dim``.
            Defaults to ``'l1'``.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages whose outputs are returned. Defaults to
            (0, 1, 2, 3).
        frozen_stages (int): Freeze the stem (0) and the stages up to this one (1-based);
            -1 freezes nothing. Defaults to -1.
        norm_eval (bool): Keep norm layers in eval mode while training. Defaults to False.
        with_cp (bool): Gradient checkpointing of each block. Defaults to False.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='BN', eps=1e-7)`` (the
            authors').
        act_cfg (dict): Activation. Defaults to :data:`GELU_TANH` (the authors').
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
    stem_block = ConvBlock
    stage_settings = (
        dict(kind='fmbconv', down_expand=16, expand_ratio=4, fewer_norm=False),
        dict(kind='fmbconv', down_expand=16, expand_ratio=4, fewer_norm=False),
        dict(kind='mbconv', down_expand=16, expand_ratio=4, fewer_norm=True),
        dict(kind='attention', down_expand=24, expand_ratio=6, fewer_norm=True),
    )

    def __init__(self,
                 arch: Union[str, dict] = 'l1',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 norm_cfg: dict = dict(type='BN', eps=1e-7),
                 act_cfg: dict = GELU_TANH,
                 init_cfg: Optional[dict] = None):
        super().__init__(arch, in_channels, out_indices, frozen_stages, norm_eval, with_cp,
                         norm_cfg, act_cfg, init_cfg)

    def stage_layout(self) -> List[Tuple[int, dict]]:
        return list(zip(self.depths[1:], self.stage_settings))
