"""Checkpoints of other layouts into mmevit's models: key conversion for the M-series and the
MIT family (B and L), the authors' detection neck, and strict loading.

mmevit's module names follow timm (``efficientvit_msra`` for the M-series,
``efficientvit_mit`` for the B- and L-series), so timm checkpoints load as they are; the authors'
checkpoints (microsoft/Cream, mit-han-lab/efficientvit) are renamed here. Each backbone's
``filter_checkpoint`` calls its family's filter, which has timm's signature
``(checkpoint, model)``.

Whole-model checkpoints in the authors' layout (their COCO detectors) load as they are: the
modules that know another layout (:class:`LoadsForeignLayout`: the backbones and
:class:`~mmevit.models.EfficientViTFPN`) recognise it from their own keys whenever a state
dict is loaded into them, by ``load_state_dict``, mmengine's ``load_checkpoint`` (``load_from``,
``tools/test.py``, the inferencers) or :func:`convert_model_state_dict` (the offline
converter).
"""
import re
from typing import Dict, Mapping, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log

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
            f'{len(missing)} missing key(s) {preview(missing)}, '
            f'{len(unexpected)} unexpected key(s) {preview(unexpected)}')
    module.load_state_dict(state_dict, strict=True)


def unset_keys(model: nn.Module, state_dict: Mapping[str, torch.Tensor]):
    """The parameters and persistent buffers of ``model`` a whole-model ``state_dict`` (in
    any layout :func:`convert_model_state_dict` knows) leaves unset; BatchNorm's
    ``num_batches_tracked`` counters are not counted (mmengine ignores them too)."""
    state_dict = convert_model_state_dict(model, state_dict, log=False)
    return [k for k in model.state_dict()
            if k not in state_dict and not k.endswith('num_batches_tracked')]


def preview(keys, limit=5):
    """The first ``limit`` of ``keys`` for an error message."""
    shown = ', '.join(repr(k) for k in keys[:limit])
    return f'[{shown}{", ..." if len(keys) > limit else ""}]'


# ---------------------------------------------------------------- other layouts at load time


class LoadsForeignLayout:
    """Mixin for modules whose weights also come in another layout (the authors').

    Whenever a state dict is loaded into the module (as part of a whole model or alone), the
    keys under the module's prefix are checked with :meth:`foreign_layout`; when it names a
    layout, :meth:`convert_foreign_layout` renames them to the module's own, once, with a
    log line. The module's own layout passes through unchanged, so missing, unexpected and
    mis-shaped keys are reported by the loader as usual. Put it before the ``nn.Module``
    base: ``class EfficientViTFPN(LoadsForeignLayout, FPN)``.
    """

    def foreign_layout(self, state_dict: Mapping[str, torch.Tensor]) -> Optional[str]:
        """The name of the other layout ``state_dict`` (the module's keys, without prefix) is
        in, or None for the module's own."""
        raise NotImplementedError

    def convert_foreign_layout(self, state_dict: Dict[str, torch.Tensor]
                               ) -> Dict[str, torch.Tensor]:
        """``state_dict`` (in :meth:`foreign_layout`'s layout) in the module's own names."""
        raise NotImplementedError

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        convert_in_place(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def convert_in_place(module: LoadsForeignLayout, state_dict: Dict[str, torch.Tensor],
                     prefix: str, log: bool = True) -> bool:
    """Rename the keys of ``state_dict`` under ``prefix`` to ``module``'s own names when they
    are in a layout it knows (logged unless ``log`` is False); True when they were."""
    local = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    layout = module.foreign_layout(local)
    if layout is None:
        return False
    converted = module.convert_foreign_layout(local)
    for key in local:
        del state_dict[prefix + key]
    state_dict.update((prefix + k, v) for k, v in converted.items())
    if log:
        print_log(f'{prefix.rstrip(".") or type(module).__name__}: converted {len(local)} '
                  f'tensors of {layout} into {len(converted)} of {type(module).__name__}',
                  logger='current')
    return True


def convert_model_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor],
                             log: bool = True) -> Dict[str, torch.Tensor]:
    """A whole model's ``state_dict`` with the parts in another layout renamed by the
    submodules that know it (what loading does on the fly, done ahead for
    :func:`load_state_dict_checked` and the offline converter)."""
    state_dict = dict(state_dict)
    for name, module in model.named_modules():
        if isinstance(module, LoadsForeignLayout):
            convert_in_place(module, state_dict, f'{name}.' if name else '', log)
    return state_dict


# ---------------------------------------------------------------- EfficientViT-M (MSRA)

_MSRA_PATCH_EMBED = {'0': 'conv1', '2': 'conv2', '4': 'conv3', '6': 'conv4'}
_MSRA_DOWNSAMPLE = {0: 'downsample.res1', 1: 'downsample.patchmerge', 2: 'downsample.res2'}


def convert_official_msra_keys(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename the authors' (microsoft/Cream) M-series keys to mmevit's (= timm's) names.

    ``patch_embed.{0,2,4,6}`` -> ``patch_embed.conv{1..4}``; ``.c.`` -> ``.conv.``;
    ``head.l`` -> ``head.linear``; ``blocks1.j`` -> ``stages.0.blocks.j``; in later stages the
    first three entries of ``blocksN`` are the downsampling (``res1``, ``patchmerge``,
    ``res2``) and the rest are ``stages.{N-1}.blocks.{j-3}``.
    """
    converted = {}
    for key, value in state_dict.items():
        parts = key.split('.')
        parts = ['conv' if p == 'c' else p for p in parts]
        if parts[0] == 'patch_embed':
            parts[1] = _MSRA_PATCH_EMBED[parts[1]]
        elif parts[0] == 'head' and parts[1] == 'l':
            parts[1] = 'linear'
        elif parts[0].startswith('blocks'):
            stage, index = int(parts[0][len('blocks'):]) - 1, int(parts[1])
            if stage == 0:
                parts[:2] = ['stages.0.blocks', str(index)]
            elif index in _MSRA_DOWNSAMPLE:
                parts[:2] = [f'stages.{stage}.{_MSRA_DOWNSAMPLE[index]}']
            else:
                parts[:2] = [f'stages.{stage}.blocks', str(index - 3)]
        converted['.'.join(parts)] = value
    return converted


def is_official_msra_layout(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether an M-series backbone state dict uses the authors' names (``blocks1.*``,
    ``patch_embed.0.*``)."""
    return any(k.startswith(('blocks1.', 'patch_embed.0.')) for k in state_dict)


def resize_attention_biases(biases: torch.Tensor, num_offsets: int) -> torch.Tensor:
    """Bicubically resample a (heads, r*r) bias table to (heads, num_offsets)."""
    heads, old = biases.shape
    old_side, new_side = round(old ** 0.5), round(num_offsets ** 0.5)
    if old_side ** 2 != old or new_side ** 2 != num_offsets:
        raise ValueError(f'attention bias tables must be square, got {old} -> {num_offsets}')
    resized = F.interpolate(biases.view(1, heads, old_side, old_side).float(),
                            size=(new_side, new_side), mode='bicubic', align_corners=False)
    return resized.view(heads, num_offsets).to(biases.dtype)


def filter_msra_checkpoint(checkpoint: Mapping, model: nn.Module) -> Dict[str, torch.Tensor]:
    """Turn any accepted M-series checkpoint into a state dict for ``model``.

    Accepted: the authors' ImageNet checkpoints (``{'model': ...}``, keys ``patch_embed.0.c``,
    ``blocks1.0.mixer.m.attn...``), timm's ``efficientvit_m*`` weights, detector/segmentor
    checkpoints (keys under ``backbone.``) and mmevit's own. The classifier (``head.*``) and
    ``attention_bias_idxs`` are dropped; bias tables of another window size (the ImageNet
    models' 4x4 stage-3 windows) are resized bicubically to the model's windows.
    """
    state_dict = unwrap_state_dict(checkpoint)
    if is_official_msra_layout(state_dict):
        state_dict = convert_official_msra_keys(state_dict)
    own = model.state_dict()
    out = {}
    for key, value in state_dict.items():
        if key.startswith('head.') or key.endswith('attention_bias_idxs'):
            continue
        if (key.endswith('attention_biases') and key in own
                and value.shape[0] == own[key].shape[0] and value.shape != own[key].shape):
            value = resize_attention_biases(value, own[key].shape[1])
        out[key] = value
    return out


# ---------------------------------------------------------------- EfficientViT-B (MIT)


def convert_official_mit_keys(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename the authors' (mit-han-lab) B- or L-series backbone keys to mmevit's (= timm's).

    B: ``input_stem.op_list.0`` -> ``stem.in_conv``; ``input_stem.op_list.{j}`` ->
    ``stem.res{j-1}``; ``stages.{i}.op_list.{j}`` -> ``stages.{i}.blocks.{j}``.
    L, whose ``stages.0`` is the stem: ``stages.0.op_list.0`` -> ``stem.in_conv``;
    ``stages.0.op_list.{j}`` -> ``stem.res{j-1}``; ``stages.{i}.op_list.{j}`` ->
    ``stages.{i-1}.blocks.{j}``.
    """
    stem = 'input_stem' if any(k.startswith('input_stem.') for k in state_dict) else 'stages.0'
    shift = 0 if stem == 'input_stem' else 1
    converted = {}
    for key, value in state_dict.items():
        if key.startswith(f'{stem}.'):
            key = re.sub(r'^[\w.]+?\.op_list\.(\d+)\.', lambda m: (
                'stem.in_conv.' if m.group(1) == '0' else f'stem.res{int(m.group(1)) - 1}.'),
                key)
        else:
            key = re.sub(r'^stages\.(\d+)\.op_list\.',
                         lambda m: f'stages.{int(m.group(1)) - shift}.blocks.', key)
        converted[key] = value
    return converted


def is_official_mit_layout(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether a B- or L-series backbone state dict uses the authors' names (blocks in
    ``op_list``)."""
    return any('.op_list.' in k for k in state_dict if not k.startswith('head.'))


def filter_mit_checkpoint(checkpoint: Mapping, model: nn.Module) -> Dict[str, torch.Tensor]:
    """Turn any accepted B- or L-series checkpoint into a state dict for ``model``.

    Accepted: the authors' classification and segmentation checkpoints (``backbone.*`` with
    ``head.*``, blocks in ``op_list``), timm's ``efficientvit_b*``/``efficientvit_l*`` weights
    (``stem.*``, ``stages.*``, ``head.*``), detector/segmentor checkpoints and mmevit's own.
    Heads are dropped. ``model`` is unused (every key maps one to one) and kept for the
    common filter signature.
    """
    state_dict = unwrap_state_dict(checkpoint)
    if is_official_mit_layout(state_dict):
        state_dict = convert_official_mit_keys(state_dict)
    return {k: v for k, v in state_dict.items() if not k.startswith('head.')}


def convert_official_seg_keys(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename an authors' whole segmentation model (``backbone.*``, ``head.*``) to an mmseg
    ``EncoderDecoder`` with :class:`~mmevit.models.EfficientViTB` and
    :class:`~mmevit.models.EfficientViTSegHead` (``backbone.*``, ``decode_head.*``)."""
    backbone = convert_official_mit_keys(
        {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')})
    converted = {f'backbone.{k}': v for k, v in backbone.items()}
    outputs = sorted({int(m.group(1)) for k in state_dict
                      if (m := re.match(r'head\.output_ops\.0\.op_list\.(\d+)\.', k))})
    for key, value in state_dict.items():
        if not key.startswith('head.'):
            continue
        new = re.sub(r'^head\.input_ops\.(\d+)\.(op_list\.0\.)?', r'lateral_convs.\1.', key)
        new = re.sub(r'^head\.middle\.op_list\.', 'middle.', new)
        match = re.match(r'^head\.output_ops\.0\.op_list\.(\d+)\.(.*)$', new)
        if match:
            is_classifier = int(match.group(1)) == outputs[-1]
            new = ('conv_seg.' + match.group(2).replace('conv.', '', 1) if is_classifier
                   else 'final_expand.' + match.group(2))
        converted[f'decode_head.{new}'] = value
    return converted


# ---------------------------------------------------------------- the authors' detection neck


def is_official_fpn_layout(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether an EfficientViTFPN state dict uses the authors' names (``extra_trans_convs``,
    ``extra_fpn_convs``)."""
    return any(k.startswith(('extra_trans_convs.', 'extra_fpn_convs.')) for k in state_dict)


def convert_official_fpn_keys(state_dict: Mapping[str, torch.Tensor],
                              num_trans_convs: int) -> Dict[str, torch.Tensor]:
    """Rename the authors' (microsoft/Cream) ``EfficientViTFPN`` keys to mmevit's.

    ``extra_trans_convs.{i}.conv.*`` -> ``trans_convs.{i}.*`` (mmcv's ConvModule around the
    transposed conv, a bare ``ConvTranspose2d`` here); ``extra_fpn_convs.{i}.*`` ->
    ``trans_fpn_convs.{n-1-i}.*``: the authors collect the finer levels finest first
    (``insert(0, ...)``) and apply ``extra_fpn_convs[i]`` to the output of
    ``extra_trans_convs[n-1-i]``, where mmevit pairs equal indices. The other keys
    (``lateral_convs``, ``fpn_convs``) are mmdet's FPN names in both.

    Args:
        state_dict (Mapping[str, Tensor]): The neck's weights, without prefix.
        num_trans_convs (int): Transposed convs of the model they are for; the checkpoint
            must have as many (the pairing depends on it).
    """
    found = sorted({int(m.group(1)) for k in state_dict
                    if (m := re.match(r'extra_trans_convs\.(\d+)\.', k))})
    if found != list(range(num_trans_convs)):
        raise ValueError(
            f'The authors\' EfficientViTFPN weights have {len(found)} transposed conv(s) '
            f'(extra_trans_convs.{found}), the model {num_trans_convs} '
            f'(num_extra_trans_convs): a checkpoint of another detector?')
    converted = {}
    for key, value in state_dict.items():
        key = re.sub(r'^extra_trans_convs\.(\d+)\.conv\.', r'trans_convs.\1.', key)
        key = re.sub(r'^extra_fpn_convs\.(\d+)\.',
                     lambda m: f'trans_fpn_convs.{num_trans_convs - 1 - int(m.group(1))}.',
                     key)
        converted[key] = value
    return converted
