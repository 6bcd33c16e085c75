"""The compiled path: torch.compile of a model's tensor work, with CUDA graphs on GPUs; and
half-precision inference of the same parts.

On a GPU the EfficientViT backbones are launch-bound: one M4 forward at batch 1 launches
hundreds of small kernels, and the GPU idles between them. ``torch.compile`` fuses the
element-wise work between convolutions, and ``mode='reduce-overhead'`` replays the whole
forward as one CUDA graph, which removes the launch overhead. A CUDA graph holds fixed
shapes, so batches should come in a few shapes
(:class:`~mmevit.models.FixedShapeDetDataPreprocessor`). On a CPU the same call compiles
without CUDA graphs.
"""
import functools
import types
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn as nn

from mmevit.deploy.fast_path import fast_path

#: The parts of a model that are compiled by default: the backbone, launch-bound by design.
#: Necks and heads (``'neck'``, ``'bbox_head'``, ``'rpn_head'``, ``'decode_head'``) can be
#: added; RoI heads see a varying number of boxes and stay eager.
DEFAULT_MODULES = ('backbone', )
#: The parts of detectors and segmentors that compute on tensors only (post-processing such
#: as NMS lives in the heads' ``predict`` methods, outside their ``forward``).
NETWORK_MODULES = ('backbone', 'neck', 'bbox_head', 'rpn_head', 'decode_head')


def _submodules(model: nn.Module, names: Sequence[str]):
    for name in names:
        module = getattr(model, name, None)
        if module is None:
            continue
        if not isinstance(module, nn.Module):
            raise TypeError(f'{type(model).__name__}.{name} is a {type(module).__name__}, '
                            f'not a module')
        yield name, module


def _wrap_forward(module: nn.Module, wrap: Callable) -> None:
    """Replace ``module.forward`` by ``wrap(f)``, ``f`` being its current forward function,
    bound to the module: a deepcopy of the model (EMA, say) binds it to the copy instead
    of calling back into the original."""
    bound = module.__dict__.get('forward')  # set by an earlier wrap
    function = bound.__func__ if bound is not None else type(module).forward
    module.forward = types.MethodType(wrap(function), module)


def _to_float32(outputs):
    if isinstance(outputs, torch.Tensor):
        return outputs.float() if outputs.is_floating_point() else outputs
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_to_float32(o) for o in outputs)
    if isinstance(outputs, dict):
        return {k: _to_float32(v) for k, v in outputs.items()}
    return outputs


def half_precision(model: nn.Module, modules: Sequence[str] = NETWORK_MODULES,
                   dtype: Optional[torch.dtype] = None) -> List[str]:
    """Run parts of a model under autocast, in place; returns the names changed.

    Each module's forward runs under ``torch.autocast`` and hands float32 outputs on, so
    post-processing (box decoding, NMS, resizing of logits) stays in float32, as mmcv's
    kernels need. The B-series linear attention stays float32 inside (see ``LiteMLA``).
    Apply before :func:`compile_model`, which then compiles the casts in.

    Args:
        model (nn.Module): An mmdet detector or mmseg segmentor.
        modules (Sequence[str]): Submodules; absent ones are skipped. Defaults to
            :data:`NETWORK_MODULES`.
        dtype (torch.dtype, optional): float16 by default on GPUs, bfloat16 on CPUs.
    """
    device = next(model.parameters()).device.type
    dtype = dtype or (torch.bfloat16 if device == 'cpu' else torch.float16)

    def wrap(function):
        @functools.wraps(function)
        def forward(self, *args, **kwargs):
            with torch.autocast(device, dtype):
                return _to_float32(function(self, *args, **kwargs))
        return forward
    names = []
    for name, module in _submodules(model, modules):
        _wrap_forward(module, wrap)
        names.append(name)
    return names


def compile_model(model: nn.Module, modules: Sequence[str] = DEFAULT_MODULES,
                  mode: Optional[str] = 'reduce-overhead', dynamic: Optional[bool] = False,
                  **compile_kwargs) -> List[str]:
    """Compile parts of a detector or segmentor in place; returns the names compiled.

    Each named submodule's forward is replaced by its ``torch.compile``: the module keeps
    its parameters, state-dict keys and hooks (checkpoints, DDP, ``with_cp``, frozen stages
    and ``norm_eval`` work as before), and callers that invoke ``forward`` directly, as
    mmseg's decode heads do, get the compiled code too. Compilation happens at the first
    call with each new input shape or train/eval mode.

    Args:
        model (nn.Module): An mmdet detector, mmseg segmentor, or any module with the named
            submodules.
        modules (Sequence[str]): Submodules to compile; absent ones are skipped.
            Defaults to :data:`DEFAULT_MODULES`.
        mode (str, optional): ``torch.compile`` mode; ``'reduce-overhead'`` adds CUDA graphs
            on GPUs. Defaults to ``'reduce-overhead'``.
        dynamic (bool, optional): ``torch.compile``'s ``dynamic``: False specialises on each
            shape (what CUDA graphs need), None lets torch decide. Defaults to False.
        **compile_kwargs: Further ``torch.compile`` arguments.
    """
    compiled = []
    for name, module in _submodules(model, modules):
        _wrap_forward(module, lambda function: torch.compile(
            function, mode=mode, dynamic=dynamic, **compile_kwargs))
        compiled.append(name)
    return compiled


def accelerate(model: nn.Module, modules: Sequence[str] = DEFAULT_MODULES,
               mode: Optional[str] = 'reduce-overhead', dynamic: Optional[bool] = False,
               half: bool = False, **compile_kwargs) -> nn.Module:
    """The inference fast path (:func:`~mmevit.deploy.fast_path`), in half precision with
    ``half`` (:func:`half_precision`), compiled by :func:`compile_model`, in place; for the
    Python API and inferencers::

        inferencer = DetInferencer('configs/retinanet_evit_m4_1x.py', 'epoch_12.pth')
        accelerate(inferencer.model)
    """
    fast_path(model)
    if half:
        half_precision(model)
    compile_model(model, modules, mode=mode, dynamic=dynamic, **compile_kwargs)
    return model
