"""Plumbing shared by both EfficientViT families: stage outputs, freezing, norm_eval,
pretrained loading and BN folding."""
from typing import Dict, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import fuse_conv_bn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from mmevit.checkpoint import load_checkpoint
from mmevit.models.converters import (LoadsForeignLayout, load_state_dict_checked,
                                      unwrap_state_dict)


def forward_blocks(blocks: nn.Module, x: torch.Tensor, with_cp: bool) -> torch.Tensor:
    """Run ``blocks`` in order, checkpointing each in training when ``with_cp`` is set."""
    for block in blocks:
        if with_cp and block.training and x.requires_grad:
            x = cp.checkpoint(block, x, use_reentrant=False)
        else:
            x = block(x)
    return x


class StagedBackbone(LoadsForeignLayout, BaseModule):
    """A stem followed by ``self.stages``, returning the outputs of ``out_indices``.

    Subclasses build ``self.stem`` (any name works through :attr:`stem_module`) and
    ``self.stages`` (an ``nn.ModuleList``), and implement :meth:`filter_checkpoint` and
    :meth:`foreign_layout`. Weights in the authors' layout also load through
    ``load_state_dict`` (whole detector checkpoints of the authors, say):
    :meth:`filter_checkpoint` converts them. Freezing and ``norm_eval`` apply in
    :meth:`train` (as in mmdet's backbones), so whenever the mode is set.

    Args:
        num_stages (int): Number of stages.
        out_indices (Sequence[int]): Stages whose outputs are returned.
        frozen_stages (int): Freeze the stem (0) and the stages up to this one (1-based);
            -1 freezes nothing.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training.
        init_cfg (dict | list[dict], optional): mmengine's initialisation config; a
            ``dict(type='Pretrained', checkpoint=PATH_OR_URL, prefix=None)`` entry loads
            weights strictly through :meth:`filter_checkpoint` (``prefix``: only the keys
            under it, e.g. ``'backbone.'`` of a whole model, which is also found without it),
            after the other entries.
    """

    def __init__(self, num_stages: int, out_indices: Sequence[int], frozen_stages: int,
                 norm_eval: bool, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i < num_stages for i in out_indices):
            raise ValueError(f'out_indices must be non-empty and within '
                             f'[0, {num_stages - 1}], got {out_indices}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be within [-1, {num_stages}], '
                             f'got {frozen_stages}')
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.deployed = False  # set by switch_to_deploy

    arch_family = 'EfficientViT'  # the name errors about ``arch`` use
    arch_settings: Dict[str, dict] = {}

    @classmethod
    def _resolve_arch(cls, arch: Union[str, dict]) -> dict:
        """The settings of a named arch, or a custom settings dict checked by the subclass."""
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_settings:
                raise ValueError(f'Unknown {cls.arch_family} arch {arch!r}; expected one of '
                                 f'{sorted(cls.arch_settings)} or a settings dict')
            return cls.arch_settings[arch.lower()]
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or dict, got {type(arch).__name__}')
        cls._check_custom_arch(arch)
        return arch

    @classmethod
    def _check_custom_arch(cls, arch: dict) -> None:
        """Raise a ValueError naming what a custom settings dict lacks or gets wrong."""
        raise NotImplementedError

    @property
    def stem_module(self) -> nn.Module:
        return self.stem

    def filter_checkpoint(self, checkpoint: dict) -> Dict[str, torch.Tensor]:
        """Turn a loaded checkpoint of any accepted layout into this model's state dict."""
        raise NotImplementedError

    def convert_foreign_layout(self, state_dict: Dict[str, torch.Tensor]
                               ) -> Dict[str, torch.Tensor]:
        return self.filter_checkpoint(state_dict)

    def forward(self, x) -> Tuple[torch.Tensor, ...]:
        if self.deployed:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem_module(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                # necks and heads get the usual layout whatever this backbone runs in
                outs.append(x.contiguous() if self.deployed else x)
        return tuple(outs)

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            for module in [self.stem_module] + list(self.stages[:self.frozen_stages]):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self):
        """mmengine's initialisation, with ``Pretrained`` entries of ``init_cfg`` (a dict or a
        list) loaded last, strictly, through :meth:`filter_checkpoint`."""
        configs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        pretrained = [c for c in configs if c and c.get('type') == 'Pretrained']
        others = [c for c in configs if c and c.get('type') != 'Pretrained']
        original, self.init_cfg = self.init_cfg, others or None
        try:
            super().init_weights()
        finally:
            self.init_cfg = original
        for cfg in pretrained:
            path = cfg['checkpoint']
            checkpoint = load_checkpoint(path, map_location='cpu')
            if cfg.get('prefix'):
                state_dict = unwrap_state_dict(checkpoint, prefix=None)
                if not any(k.startswith(cfg['prefix']) for k in state_dict):
                    raise ValueError(f'{path}: no key starts with the init_cfg prefix '
                                     f'{cfg["prefix"]!r} (first keys: {list(state_dict)[:3]})')
                checkpoint = unwrap_state_dict(state_dict, prefix=cfg['prefix'])
            load_state_dict_checked(self, self.filter_checkpoint(checkpoint), source=path)

    @torch.no_grad()
    def switch_to_deploy(self):
        """The inference fast path: every BatchNorm folded into the conv before it, weights and
        activations channels-last (the layout oneDNN's CPU convolutions prefer; measured in
        the README's Speed section). Outputs stay in the usual layout. A second call changes
        nothing."""
        if self.deployed:
            return self
        self.eval()
        fuse_conv_bn(self)
        self.to(memory_format=torch.channels_last)
        self.deployed = True
        return self
