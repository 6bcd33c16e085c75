"""The inference fast path for whole models, and ONNX export checked with onnxruntime."""
import copy
import os
import os.path as osp
from typing import List, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn

Tensors = Union[torch.Tensor, Sequence['Tensors']]


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


def compiled(model: nn.Module) -> nn.Module:
    """``torch.compile`` of a fast-path model for one fixed input shape (a deployment).

    Inductor's freezing treats the weights as constants, so convolutions get pre-packed
    weights and the ReLUs, adds and reshapes between them are fused into generated kernels:
    the memory-bound operations the EfficientViT paper names. Each new input shape compiles
    again (tens of seconds on a CPU), which is why ``tools/test.py --fuse`` does not use it.
    """
    return torch.compile(model, options={'freezing': True})


def flatten(outputs: Tensors) -> List[torch.Tensor]:
    """Tensors of a nested tuple/list in order (the ONNX graph's outputs)."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for item in outputs for t in flatten(item)]


class FlatOutputs(nn.Module):
    """``module(x)`` with its nested outputs flattened to a tuple of tensors."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return tuple(flatten(self.module(x)))


class NetworkWithoutNMS(nn.Module):
    """The tensor part of a detector or segmentor, taking the pre-processed input batch.

    Segmentors: the logits (mmseg's ``_forward``); single-stage detectors: the head's
    per-level class scores and box deltas; two-stage detectors: the neck's features and the
    RPN's per-level outputs (the RoI heads need the RPN's NMS).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        if not hasattr(model, 'extract_feat'):
            raise TypeError(f'{type(model).__name__} is not an mmdet detector or mmseg segmentor')
        self.model = model

    def forward(self, x):
        model = self.model
        if hasattr(model, 'decode_head'):
            return model._forward(x)
        feats = model.extract_feat(x)
        if getattr(model, 'rpn_head', None) is not None:
            return feats, model.rpn_head(feats)
        return model.bbox_head(feats)


def export_onnx(module: nn.Module, example: torch.Tensor, path: str,
                opset_version: int = 18) -> List[str]:
    """Export ``module(example)`` (nested outputs flattened) to ``path``; returns output names.

    The graph has the example's fixed input shape, as the papers' ONNX timings use.
    """
    wrapped = FlatOutputs(module).eval()
    with torch.no_grad():
        num_outputs = len(wrapped(example))
    names = [f'output{i}' for i in range(num_outputs)]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = path + '.part'
    # optimize=False: onnxscript 0.7's optimizer drops ``x + 1e-15`` as an addition of zero,
    # which turns LiteMLA's normaliser 0 / (0 + eps) into NaN; onnxruntime optimises anyway.
    torch.onnx.export(wrapped, (example, ), tmp, input_names=['input'], output_names=names,
                      opset_version=opset_version, dynamo=True, external_data=False,
                      optimize=False, verbose=False)
    os.replace(tmp, path)  # a failed export leaves no half-written model behind
    return names


def onnx_session(path: str, num_threads: int = 0):
    """An onnxruntime CPU session (``num_threads`` 0: onnxruntime's default)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def max_relative_error(outputs: List[torch.Tensor], expected: List[torch.Tensor]) -> float:
    """Largest ``max|a - b| / max|b|`` over paired tensors."""
    return max(float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-12))
               for a, b in zip(outputs, expected))


def onnx_max_relative_error(session, module: nn.Module, example: torch.Tensor) -> float:
    """:func:`max_relative_error` of the ONNX outputs against PyTorch's, for one input."""
    with torch.no_grad():
        expected = flatten(module(example))
    outputs = [torch.from_numpy(o) for o in session.run(None, {'input': example.numpy()})]
    if len(outputs) != len(expected):
        raise RuntimeError(f'ONNX model returns {len(outputs)} outputs, PyTorch {len(expected)}')
    for got, want in zip(outputs, expected):
        if got.shape != want.shape:
            raise RuntimeError(f'ONNX output shape {tuple(got.shape)} != PyTorch '
                               f'{tuple(want.shape)}')
    return max_relative_error(outputs, expected)


def deployed_copy(model: nn.Module) -> nn.Module:
    """A fast-path copy, leaving ``model`` as it is."""
    return fast_path(copy.deepcopy(model))
