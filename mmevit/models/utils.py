"""Helpers shared by both EfficientViT families: checkpoint unwrapping and strict loading."""
from typing import Dict, Mapping, Optional

import torch
import torch.nn as nn

# Containers in which checkpoints of the ecosystem keep their weights: mmengine ('state_dict'),
# the authors' M-series and timm training scripts ('model'), DeiT-style scripts ('module').
_STATE_DICT_KEYS = ('state_dict', 'model', 'module')


def unwrap_state_dict(checkpoint: Mapping,
                      prefix: Optional[str] = 'backbone.') -> Dict[str, torch.Tensor]:
    """Return the backbone weights held by any checkpoint layout the project accepts.

    Args:
        checkpoint (Mapping): A loaded checkpoint: a bare state dict, or a dict holding one
            under ``state_dict``, ``model`` or ``module``.
        prefix (str, optional): Prefix of the backbone keys inside a whole-model checkpoint
            (a detector, a segmentor, or the authors' segmentation models). When any key
            carries it, only those keys are kept, without it; None keeps every key.
            Defaults to ``'backbone.'``.

    Returns:
        dict[str, Tensor]: The state dict, ``module.`` (DataParallel) prefixes removed.
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'Expected a checkpoint dict, got {type(checkpoint).__name__}')
    state_dict = checkpoint
    for key in _STATE_DICT_KEYS:
        if isinstance(state_dict.get(key), Mapping):
            state_dict = state_dict[key]
            break
    state_dict = {(k[len('module.'):] if k.startswith('module.') else k): v
                  for k, v in state_dict.items()}
    if prefix and any(k.startswith(prefix) for k in state_dict):
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return state_dict


def load_state_dict_checked(module: nn.Module, state_dict: Mapping[str, torch.Tensor],
                            source: str = 'checkpoint') -> None:
    """Load ``state_dict`` into ``module``, refusing any missing, unexpected or mis-shaped key.

    A backbone that silently keeps random weights for part of its layers gives wrong numbers
    downstream, so every discrepancy is an error that names the keys (and shapes).

    Args:
        module (nn.Module): The model to load into.
        state_dict (Mapping[str, Tensor]): Weights already converted to the model's naming.
        source (str): Where the weights came from, for error messages.
    """
    own = module.state_dict()
    for key, value in state_dict.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(
                f'{source}: shape mismatch at {key!r}: checkpoint has {tuple(value.shape)}, '
                f'{type(module).__name__} expects {tuple(own[key].shape)} (a checkpoint of '
                f'another arch or family?)')
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:
        raise ValueError(
            f'{source} does not match {type(module).__name__}: '
            f'{len(missing)} missing key(s) {_preview(missing)}, '
            f'{len(unexpected)} unexpected key(s) {_preview(unexpected)}')
    module.load_state_dict(state_dict, strict=True)


def _preview(keys, limit=5):
    shown = ', '.join(repr(k) for k in keys[:limit])
    return f'[{shown}{", ..." if len(keys) > limit else ""}]'
