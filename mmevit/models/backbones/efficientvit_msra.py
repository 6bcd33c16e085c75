"""EfficientViT-M0..M5: Memory Efficient Vision Transformer with Cascaded Group Attention.

Liu et al., CVPR 2023 (https://arxiv.org/abs/2305.07027); the authors' code is
microsoft/Cream ``EfficientViT/``. Module and parameter names follow timm's
``efficientvit_msra`` so that timm checkpoints load as they are; the authors' checkpoints are
renamed by :func:`mmevit.models.converters.convert_official_msra_keys`.

The detection variant differs from the ImageNet classifier in one point only: every stage
attends in fixed 7x7 windows, padding feature maps (also those smaller than a window) at the
bottom/right to a multiple of the window and cropping back.
"""
import copy
import itertools
import math
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer

from mmevit.models.backbones.base import StagedBackbone, forward_blocks
from mmevit.models.converters import filter_msra_checkpoint, is_official_msra_layout
from mmevit.registry import register_model

#: The paper's norm and activation: BatchNorm and ReLU only.
BN = dict(type='BN')
RELU = dict(type='ReLU')


class ConvNorm(nn.Sequential):
    """A bias-free convolution followed by a norm layer (BatchNorm in the paper).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Square kernel size; padding keeps the size at stride 1.
        stride (int): Convolution stride.
        groups (int): Convolution groups (``in_channels`` for a depthwise conv).
        bn_weight_init (float): Initial norm scale; 0 makes a residual branch start as
            identity.
        norm_cfg (dict): The norm layer. Defaults to BN.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 stride: int = 1, groups: int = 1, bn_weight_init: float = 1.0, *,
                 norm_cfg: dict = BN):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                              kernel_size // 2, groups=groups, bias=False)
        self.bn = build_norm_layer(norm_cfg, out_channels)[1]
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.zeros_(self.bn.bias)


class Residual(nn.Module):
    """``x + m(x)``."""

    def __init__(self, m: nn.Module):
        super().__init__()
        self.m = m

    def forward(self, x):
        return x + self.m(x)

    @torch.no_grad()
    def fused_conv(self) -> Optional[nn.Conv2d]:
        """A new conv computing ``x + m(x)`` when ``m`` is a depthwise ConvNorm whose norm is
        already folded: the identity becomes a 1 added to the centre of every kernel (the
        deploy form saves an addition kernel per residual). None for any other ``m``; ``m``
        itself is left as it is."""
        conv = getattr(self.m, 'conv', None)
        if (not isinstance(self.m, ConvNorm) or not isinstance(self.m.bn, nn.Identity)
                or conv.groups != conv.in_channels or conv.in_channels != conv.out_channels
                or conv.stride != (1, 1) or conv.bias is None):
            return None
        fused = copy.deepcopy(conv)
        k = fused.kernel_size[0]
        fused.weight[:, 0, k // 2, k // 2] += 1
        return fused


class FeedForward(nn.Module):
    """Pointwise FFN: 1x1 ConvNorm, activation, 1x1 ConvNorm.

    Args:
        channels (int): Input and output channels.
        hidden_channels (int): Expanded channels.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation. Defaults to ReLU.
    """

    def __init__(self, channels: int, hidden_channels: int, *, norm_cfg: dict = BN,
                 act_cfg: dict = RELU):
        super().__init__()
        self.pw1 = ConvNorm(channels, hidden_channels, norm_cfg=norm_cfg)
        self.act = build_activation_layer(act_cfg)
        self.pw2 = ConvNorm(hidden_channels, channels, bn_weight_init=0., norm_cfg=norm_cfg)

    def forward(self, x):
        return self.pw2(self.act(self.pw1(x)))


def depthwise_and_ffn(channels: int, mlp_ratio: float, norm_cfg: dict,
                      act_cfg: dict) -> nn.Sequential:
    """Residual 3x3 depthwise conv then residual FFN: the token-interaction half of a block."""
    return nn.Sequential(
        Residual(ConvNorm(channels, channels, 3, groups=channels, norm_cfg=norm_cfg)),
        Residual(FeedForward(channels, int(channels * mlp_ratio), norm_cfg=norm_cfg,
                             act_cfg=act_cfg)))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation with a ReLU bottleneck and a sigmoid gate (timm's ``SEModule``).

    Args:
        channels (int): Input channels.
        rd_ratio (float): Bottleneck width as a fraction of ``channels``.
    """

    def __init__(self, channels: int, rd_ratio: float = 0.25):
        super().__init__()
        hidden = int(channels * rd_ratio)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        scale = self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * scale.sigmoid()


class PatchMerging(nn.Module):
    """Inverted-residual downsampling: 1x1 to 4C, 3x3 depthwise stride 2, SE, 1x1 to C_out.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation (not SE's, which is ReLU). Defaults to ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, *, norm_cfg: dict = BN,
                 act_cfg: dict = RELU):
        super().__init__()
        hidden = in_channels * 4
        self.conv1 = ConvNorm(in_channels, hidden, norm_cfg=norm_cfg)
        self.act = build_activation_layer(act_cfg)
        self.conv2 = ConvNorm(hidden, hidden, 3, stride=2, groups=hidden, norm_cfg=norm_cfg)
        self.se = SqueezeExcite(hidden, 0.25)
        self.conv3 = ConvNorm(hidden, out_channels, norm_cfg=norm_cfg)

    def forward(self, x):
        return self.conv3(self.se(self.act(self.conv2(self.act(self.conv1(x))))))


def attention_bias_index(window_size: int) -> torch.Tensor:
    """Index of the learned bias of each (query, key) pair of a ``window_size**2`` window.

    Pairs share a bias when their offsets ``(|dy|, |dx|)`` are equal; offsets are numbered in
    first-seen order, which makes the index of ``(dy, dx)`` equal ``dy * window_size + dx``.
    """
    points = list(itertools.product(range(window_size), range(window_size)))
    offsets: Dict[Tuple[int, int], int] = {}
    idxs = []
    for p1 in points:
        for p2 in points:
            offset = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
            idxs.append(offsets.setdefault(offset, len(offsets)))
    return torch.tensor(idxs, dtype=torch.long).view(len(points), len(points))


class CascadedGroupAttention(nn.Module):
    """Cascaded group attention over one window.

    Each head attends on its own split of the channels plus the previous head's output, which
    both saves computation and grows the model's capacity with depth-wise cascades. A
    depthwise conv on the queries adds local detail; a learned bias per relative offset adds
    position.

    Args:
        dim (int): Input and output channels.
        key_dim (int): Query/key channels per head.
        num_heads (int): Number of heads (``dim`` must be divisible by it).
        window_size (int): Side of the square window the input always has.
        kernels (Sequence[int]): Depthwise kernel size on the queries of each head.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation before the projection. Defaults to ReLU.
    """

    def __init__(self, dim: int, key_dim: int, num_heads: int, window_size: int,
                 kernels: Sequence[int], *, norm_cfg: dict = BN, act_cfg: dict = RELU):
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = dim // num_heads
        self.scale = key_dim ** -0.5
        self.qkvs = nn.ModuleList(
            ConvNorm(dim // num_heads, 2 * key_dim + self.value_dim, norm_cfg=norm_cfg)
            for _ in range(num_heads))
        self.dws = nn.ModuleList(
            ConvNorm(key_dim, key_dim, kernels[i], groups=key_dim, norm_cfg=norm_cfg)
            for i in range(num_heads))
        self.proj = nn.Sequential(build_activation_layer(act_cfg),
                                  ConvNorm(self.value_dim * num_heads, dim, bn_weight_init=0.,
                                           norm_cfg=norm_cfg))
        idxs = attention_bias_index(window_size)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, int(idxs.max()) + 1))
        self.register_buffer('attention_bias_idxs', idxs, persistent=False)
        self.register_buffer('deployed_bias', None)  # the deploy form's one piece of state

    @property
    def deployed(self) -> bool:
        """Whether this is the deploy form (:meth:`switch_to_deploy`)."""
        return self.deployed_bias is not None

    def attention_bias(self) -> torch.Tensor:
        """The (num_heads, N, N) bias, gathered from the table unless already gathered."""
        if self.deployed:
            return self.deployed_bias
        return self.attention_biases[:, self.attention_bias_idxs]

    @torch.no_grad()
    def switch_to_deploy(self):
        """The inference form, once the norms are folded into the convs: the bias table
        replaced by the gathered (heads, N, N) tensor, and the query convs replaced by copies
        with the attention scale folded in (one multiplication kernel less per head). A
        second call changes nothing."""
        if self.deployed:
            return self
        convs = [getattr(dw, 'conv', dw) for dw in self.dws]
        if any(not isinstance(dw, nn.Conv2d) and not isinstance(dw.bn, nn.Identity)
               for dw in self.dws) or any(conv.bias is None for conv in convs):
            raise RuntimeError('fold the norm layers into the convs (mmcv.cnn.fuse_conv_bn) '
                               'before switch_to_deploy')
        scaled = []
        for conv in convs:
            conv = copy.deepcopy(conv)
            conv.weight.mul_(self.scale)
            conv.bias.mul_(self.scale)
            scaled.append(conv)
        self.dws = nn.ModuleList(scaled)
        self.deployed_bias = self.attention_biases[:, self.attention_bias_idxs].clone()
        del self.attention_biases
        return self

    def forward(self, x):
        B, _, H, W = x.shape
        bias = self.attention_bias()
        feats_in = x.chunk(self.num_heads, dim=1)
        feats_out = []
        feat = feats_in[0]
        for i, (qkv, dw) in enumerate(zip(self.qkvs, self.dws)):
            if i > 0:  # the cascade: each head refines the previous head's output
                feat = feat + feats_in[i]
            q, k, v = qkv(feat).split([self.key_dim, self.key_dim, self.value_dim], dim=1)
            q = dw(q)
            q, k, v = q.flatten(2), k.flatten(2), v.flatten(2)
            attn = q.transpose(-2, -1) @ k
            if not self.deployed:  # the deploy form's queries carry the scale
                attn = attn * self.scale
            attn = (attn + bias[i]).softmax(dim=-1)
            feat = (v @ attn.transpose(-2, -1)).view(B, self.value_dim, H, W)
            feats_out.append(feat)
        return self.proj(torch.cat(feats_out, 1))


class LocalWindowAttention(nn.Module):
    """Cascaded group attention in non-overlapping square windows of any feature map.

    The map is zero-padded at the bottom/right to a multiple of the window (also when it is
    smaller than one window), attended window by window, and cropped back.

    Args:
        dim (int): Channels.
        key_dim (int): Query/key channels per head.
        num_heads (int): Number of heads.
        window_size (int): Window side.
        kernels (Sequence[int]): Depthwise kernel size on the queries of each head.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation. Defaults to ReLU.
    """

    def __init__(self, dim: int, key_dim: int, num_heads: int, window_size: int,
                 kernels: Sequence[int], *, norm_cfg: dict = BN, act_cfg: dict = RELU):
        super().__init__()
        self.window_size = window_size
        self.attn = CascadedGroupAttention(dim, key_dim, num_heads, window_size, kernels,
                                           norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x):
        B, C, H, W = x.shape
        ws = self.window_size
        pad_b, pad_r = (-H) % ws, (-W) % ws
        if pad_b or pad_r:
            x = F.pad(x, (0, pad_r, 0, pad_b))
        nH, nW = (H + pad_b) // ws, (W + pad_r) // ws
        # (B, C, nH*ws, nW*ws) -> (B*nH*nW, C, ws, ws)
        x = x.view(B, C, nH, ws, nW, ws).permute(0, 2, 4, 1, 3, 5).reshape(B * nH * nW, C, ws, ws)
        x = self.attn(x)
        x = x.view(B, nH, nW, C, ws, ws).permute(0, 3, 1, 4, 2, 5).reshape(B, C, nH * ws, nW * ws)
        if pad_b or pad_r:
            x = x[:, :, :H, :W].contiguous()
        return x


class EfficientViTBlock(nn.Module):
    """The sandwich block: DW+FFN, one local-window cascaded group attention, DW+FFN.

    Args:
        dim (int): Channels.
        key_dim (int): Query/key channels per head.
        num_heads (int): Number of heads.
        window_size (int): Attention window side.
        kernels (Sequence[int]): Depthwise kernel size on the queries of each head.
        mlp_ratio (float): FFN expansion.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation. Defaults to ReLU.
    """

    def __init__(self, dim: int, key_dim: int, num_heads: int, window_size: int,
                 kernels: Sequence[int], mlp_ratio: float = 2., *, norm_cfg: dict = BN,
                 act_cfg: dict = RELU):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        layers = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.dw0 = Residual(ConvNorm(dim, dim, 3, groups=dim, bn_weight_init=0.,
                                     norm_cfg=norm_cfg))
        self.ffn0 = Residual(FeedForward(dim, hidden, **layers))
        self.mixer = Residual(LocalWindowAttention(dim, key_dim, num_heads, window_size, kernels,
                                                   **layers))
        self.dw1 = Residual(ConvNorm(dim, dim, 3, groups=dim, bn_weight_init=0.,
                                     norm_cfg=norm_cfg))
        self.ffn1 = Residual(FeedForward(dim, hidden, **layers))

    def forward(self, x):
        return self.ffn1(self.dw1(self.mixer(self.ffn0(self.dw0(x)))))


class EfficientViTStage(nn.Module):
    """An optional downsampling (DW+FFN, PatchMerging, DW+FFN) followed by ``depth`` blocks.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        downsample (bool): Halve the resolution first (every stage but the first).
        depth (int): Number of :class:`EfficientViTBlock`.
        key_dim (int): Query/key channels per head.
        num_heads (int): Number of heads.
        window_size (int): Attention window side.
        kernels (Sequence[int]): Depthwise kernel size on the queries of each head.
        mlp_ratio (float): FFN expansion.
        with_cp (bool): Checkpoint each block in training to save activation memory.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation. Defaults to ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, depth: int,
                 key_dim: int, num_heads: int, window_size: int, kernels: Sequence[int],
                 mlp_ratio: float = 2., with_cp: bool = False, *, norm_cfg: dict = BN,
                 act_cfg: dict = RELU):
        super().__init__()
        layers = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        if downsample:
            self.downsample = nn.Sequential(OrderedDict([
                ('res1', depthwise_and_ffn(in_channels, mlp_ratio, **layers)),
                ('patchmerge', PatchMerging(in_channels, out_channels, **layers)),
                ('res2', depthwise_and_ffn(out_channels, mlp_ratio, **layers)),
            ]))
        else:
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(*[
            EfficientViTBlock(out_channels, key_dim, num_heads, window_size, kernels, mlp_ratio,
                              **layers)
            for _ in range(depth)])
        self.with_cp = with_cp

    def forward(self, x):
        x = self.downsample(x)
        return forward_blocks(self.blocks, x, self.with_cp)


class PatchEmbed(nn.Sequential):
    """Four 3x3 stride-2 ConvNorms with activations between them (stride 16).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        norm_cfg (dict): Norm layers. Defaults to BN.
        act_cfg (dict): Activation. Defaults to ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, *, norm_cfg: dict = BN,
                 act_cfg: dict = RELU):
        super().__init__()
        channels = [in_channels, out_channels // 8, out_channels // 4, out_channels // 2,
                    out_channels]
        for i in range(4):
            if i:
                self.add_module(f'relu{i}', build_activation_layer(act_cfg))
            self.add_module(f'conv{i + 1}', ConvNorm(channels[i], channels[i + 1], 3, stride=2,
                                                     norm_cfg=norm_cfg))


@register_model(aliases=('EfficientViT', ))
class EfficientViTM(StagedBackbone):
    """EfficientViT-M backbone for dense prediction (strides 16, 32, 64).

    Registered as ``EfficientViTM`` and, for configs written before the B-series arrived, as
    ``EfficientViT`` (timm and the MIT code use that name for the B-series).

    Args:
        arch (str | dict): ``'m0'`` .. ``'m5'``, or a dict with keys ``embed_dims``, ``depths``,
            ``num_heads`` (one entry per stage) and ``kernels`` (one per head). Defaults to
            ``'m4'``.
        in_channels (int): Input image channels. Defaults to 3.
        key_dim (int): Query/key channels per head. Defaults to 16.
        mlp_ratio (float): FFN expansion. Defaults to 2.
        window_size (int | Sequence[int]): Attention window side, for all stages or per stage.
            The ImageNet classifiers at 224 correspond to ``(7, 7, 4)``. Defaults to 7.
        out_indices (Sequence[int]): Stages whose outputs are returned. Defaults to (0, 1, 2).
        frozen_stages (int): Freeze the patch embedding (0) and the stages up to this one
            (1-based); -1 freezes nothing. Defaults to -1.
        norm_eval (bool): Keep norm layers in eval mode (running statistics frozen) while
            training. Defaults to False.
        with_cp (bool): Gradient checkpointing of each block. Defaults to False.
        norm_cfg (dict): Norm layers (``dict(type='SyncBN')`` for synchronised statistics).
            Defaults to ``dict(type='BN')`` (the paper's).
        act_cfg (dict): Activation of every block (not the squeeze-excitation's ReLU).
            Defaults to ``dict(type='ReLU')`` (the paper's).
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)`` loads the
            authors' ImageNet checkpoints, timm's ``efficientvit_m*``, detector/segmentor
            checkpoints and mmevit's own (see
            :func:`mmevit.models.converters.filter_msra_checkpoint`). Defaults to None.

    Attributes:
        feature_info (list[dict]): timm's description of every stage's output
            (``num_chs``, ``reduction``, ``module``), for timm-style feature consumers.
    """

    arch_family = 'EfficientViT-M'

    arch_settings = {
        'm0': dict(embed_dims=(64, 128, 192), depths=(1, 2, 3), num_heads=(4, 4, 4),
                   kernels=(5, 5, 5, 5)),
        'm1': dict(embed_dims=(128, 144, 192), depths=(1, 2, 3), num_heads=(2, 3, 3),
                   kernels=(7, 5, 3, 3)),
        'm2': dict(embed_dims=(128, 192, 224), depths=(1, 2, 3), num_heads=(4, 3, 2),
                   kernels=(7, 5, 3, 3)),
        'm3': dict(embed_dims=(128, 240, 320), depths=(1, 2, 3), num_heads=(4, 3, 4),
                   kernels=(5, 5, 5, 5)),
        'm4': dict(embed_dims=(128, 256, 384), depths=(1, 2, 3), num_heads=(4, 4, 4),
                   kernels=(7, 5, 3, 3)),
        'm5': dict(embed_dims=(192, 288, 384), depths=(1, 3, 4), num_heads=(3, 3, 4),
                   kernels=(7, 5, 3, 3)),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'm4',
                 in_channels: int = 3,
                 key_dim: int = 16,
                 mlp_ratio: float = 2.,
                 window_size: Union[int, Sequence[int]] = 7,
                 out_indices: Sequence[int] = (0, 1, 2),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 norm_cfg: dict = BN,
                 act_cfg: dict = RELU,
                 init_cfg: Optional[dict] = None):
        settings = self._resolve_arch(arch)
        embed_dims, depths = settings['embed_dims'], settings['depths']
        num_heads, kernels = settings['num_heads'], settings['kernels']
        num_stages = len(embed_dims)
        super().__init__(num_stages, out_indices, frozen_stages, norm_eval, init_cfg)
        if isinstance(window_size, int):
            window_size = [window_size] * num_stages
        if len(window_size) != num_stages or min(window_size) < 1:
            raise ValueError(f'window_size must be a positive int or {num_stages} positive ints, '
                             f'got {window_size}')
        self.embed_dims = tuple(embed_dims)

        layers = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.patch_embed = PatchEmbed(in_channels, embed_dims[0], **layers)
        self.stages = nn.ModuleList()
        self.feature_info = []
        for i in range(num_stages):
            self.stages.append(EfficientViTStage(
                embed_dims[max(i - 1, 0)], embed_dims[i], downsample=i > 0, depth=depths[i],
                key_dim=key_dim, num_heads=num_heads[i], window_size=window_size[i],
                kernels=kernels, mlp_ratio=mlp_ratio, with_cp=with_cp, **layers))
            self.feature_info.append(
                dict(num_chs=embed_dims[i], reduction=16 * 2 ** i, module=f'stages.{i}'))

    @classmethod
    def _check_custom_arch(cls, arch: dict) -> None:
        required = ('embed_dims', 'depths', 'num_heads', 'kernels')
        missing = [k for k in required if k not in arch]
        if missing:
            raise ValueError(f'Custom arch dict lacks {missing}; it needs keys {list(required)}')
        lengths = {k: len(arch[k]) for k in required[:3]}
        if len(set(lengths.values())) != 1:
            raise ValueError(f'embed_dims, depths and num_heads need one entry per stage, got '
                             f'lengths {lengths}')
        for dim, heads in zip(arch['embed_dims'], arch['num_heads']):
            if dim % heads or dim % 8:
                raise ValueError(f'Each embed dim must be divisible by 8 and by its number of '
                                 f'heads, got embed_dims={arch["embed_dims"]}, '
                                 f'num_heads={arch["num_heads"]}')
        if len(arch['kernels']) < max(arch['num_heads']):
            raise ValueError(f'kernels needs one entry per head ({max(arch["num_heads"])}), '
                             f'got {arch["kernels"]}')

    @staticmethod
    def imagenet_window_sizes(img_size: int, window_size: int = 7) -> List[int]:
        """The windows of the authors' ImageNet classifier at ``img_size``: per stage
        ``min(window_size, side)`` of its stride-16/32/64 map (7, 7, 4 at 224)."""
        return [min(window_size, math.ceil(img_size / (16 * 2 ** i))) for i in range(3)]

    @property
    def stem_module(self) -> nn.Module:
        return self.patch_embed

    def filter_checkpoint(self, checkpoint: dict) -> Dict[str, torch.Tensor]:
        return filter_msra_checkpoint(checkpoint, self)

    def foreign_layout(self, state_dict: Dict[str, torch.Tensor]) -> Optional[str]:
        if is_official_msra_layout(state_dict):
            return "the authors' EfficientViT-M layout (microsoft/Cream)"
        return None

    @torch.no_grad()
    def switch_to_deploy(self):
        """The inference fast path of :class:`StagedBackbone`, plus: attention biases
        gathered once and the attention scale folded into the queries
        (:meth:`CascadedGroupAttention.switch_to_deploy`), and every residual depthwise conv
        replaced by one conv that adds the identity too (:meth:`Residual.fused_conv`). Fewer
        kernels per block, the same outputs up to float rounding. A second call changes
        nothing.

        The attention's own convs stay in the usual layout: its windows come out of the
        partition that way, and channels-last weights would copy every window tensor
        (24 copy kernels fewer in M4, at equal CPU speed).
        """
        if self.deployed:
            return self
        super().switch_to_deploy()
        for m in self.modules():
            if isinstance(m, CascadedGroupAttention):
                m.switch_to_deploy()
                m.to(memory_format=torch.contiguous_format)
        for name, m in list(self.named_modules()):
            conv = m.fused_conv() if isinstance(m, Residual) else None
            if conv is not None:
                parent, _, child = name.rpartition('.')
                setattr(self.get_submodule(parent), child, conv)
        return self


EfficientViT = EfficientViTM  # the name of the M-series before the B-series arrived
