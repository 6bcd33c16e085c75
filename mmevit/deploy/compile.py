"""The compiled path: torch.compile of a model's tensor work, with CUDA graphs on GPUs.

On a GPU the EfficientViT backbones are launch-bound: one M4 forward at batch 1 launches
hundreds of small kernels, and the GPU idles between them. ``torch.compile`` fuses the
element-wise work between convolutions, and ``mode='reduce-overhead'`` replays the whole
forward as one CUDA graph, which removes the launch overhead. A CUDA graph holds fixed
shapes, so batches should come in a few shapes
(:class:`~mmevit.models.FixedShapeDetDataPreprocessor`). On a CPU the same call compiles
without CUDA graphs.
"""
import time
import types
from typing import List, Optional, Sequence

import torch
import torch.nn as nn

from mmevit.deploy.fast_path import fast_path

#: The parts of a model that are compiled by default: the backbone, launch-bound by design.
#: Necks and heads (``'neck'``, ``'bbox_head'``, ``'rpn_head'``, ``'decode_head'``) can be
#: added; RoI heads see a varying number of boxes and stay eager.
DEFAULT_MODULES = ('backbone', )


def compile_model(model: nn.Module, modules: Sequence[str] = DEFAULT_MODULES,
                  mode: Optional[str] = 'reduce-overhead', dynamic: Optional[bool] = False,
                  **compile_kwargs) -> List[str]:
    """Compile parts of a detector or segmentor in place; returns the names compiled.

    Each named submodule's ``forward`` is replaced by its ``torch.compile``: the module keeps
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
    for name in modules:
        module = getattr(model, name, None)
        if module is None:
            continue
        if not isinstance(module, nn.Module):
            raise TypeError(f'{type(model).__name__}.{name} is a {type(module).__name__}, '
                            f'not a module to compile')
        # the class's function compiled and bound to this module: a deepcopy of the model
        # (EMA, say) binds it to the copy instead of calling back into the original
        module.forward = types.MethodType(
            torch.compile(type(module).forward, mode=mode, dynamic=dynamic, **compile_kwargs),
            module)
        compiled.append(name)
    return compiled


def accelerate(model: nn.Module, modules: Sequence[str] = DEFAULT_MODULES,
               mode: Optional[str] = 'reduce-overhead', dynamic: Optional[bool] = False,
               **compile_kwargs) -> nn.Module:
    """The inference fast path (:func:`~mmevit.deploy.fast_path`) compiled by
    :func:`compile_model`, in place; for the Python API and inferencers::

        inferencer = DetInferencer('configs/retinanet_evit_m4_1x.py', 'epoch_12.pth')
        accelerate(inferencer.model)
    """
    fast_path(model)
    compile_model(model, modules, mode=mode, dynamic=dynamic, **compile_kwargs)
    return model


class FirstCallTimer:
    """Seconds the first call of a phase took (where compilation happens), for the log."""

    def __init__(self):
        self.start = None

    def begin(self) -> None:
        if self.start is None:
            self.start = time.perf_counter()

    def end(self) -> Optional[float]:
        """The first call's seconds, once; None afterwards."""
        if self.start is None or self.start is False:
            return None
        seconds, self.start = time.perf_counter() - self.start, False
        return seconds
