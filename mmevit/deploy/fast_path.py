"""The inference fast path of whole models (any module holding EfficientViT backbones)."""
import copy

import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn


def _is_inside(name: str, parent: str) -> bool:
    return name != parent and (parent == '' or name.startswith(parent + '.'))


@torch.no_grad()
def fast_path(model: nn.Module) -> nn.Module:
    """Turn a backbone, detector or segmentor into its inference form, in place.

    Modules with a ``switch_to_deploy`` (the EfficientViT backbones, wherever they sit) switch
    to their deploy form (BN folded, channels-last, M-series attention biases gathered once);
    every other conv followed by BatchNorm (necks, heads, baseline backbones) is folded too.
    Outputs stay equal up to float rounding.
    """
    model.eval()
    candidates = [(n, m) for n, m in model.named_modules() if hasattr(m, 'switch_to_deploy')]
    outermost = [(n, m) for n, m in candidates
                 if not any(_is_inside(n, parent) for parent, _ in candidates)]
    for _, module in outermost:
        module.switch_to_deploy()  # switches its own submodules
    fuse_conv_bn(model)
    return model


def deployed_copy(model: nn.Module) -> nn.Module:
    """A fast-path copy, leaving ``model`` as it is."""
    return fast_path(copy.deepcopy(model))


def compiled(model: nn.Module) -> nn.Module:
    """``torch.compile`` of a fast-path model for one fixed input shape (a deployment).

    Inductor's freezing treats the weights as constants, so convolutions get pre-packed
    weights and the ReLUs, adds and reshapes between them are fused into generated kernels:
    the memory-bound operations the EfficientViT paper names. Each new input shape compiles
    again (tens of seconds on a CPU), which is why ``tools/test.py --fuse`` does not use it.
    """
    return torch.compile(model, options={'freezing': True})
