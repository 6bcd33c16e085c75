"""ONNX export of the fast path, checked with onnxruntime."""
import os
import os.path as osp
from typing import List

import torch
import torch.nn as nn

from mmevit.checkpoint import commit_file
from mmevit.deploy.wrappers import FlatOutputs, flatten, max_relative_error


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
    tmp = f'{path}.part'
    # optimize=False: onnxscript 0.7's optimizer drops ``x + 1e-15`` as an addition of zero,
    # which turns LiteMLA's normaliser 0 / (0 + eps) into NaN; onnxruntime optimises anyway.
    torch.onnx.export(wrapped, (example, ), tmp, input_names=['input'], output_names=names,
                      opset_version=opset_version, dynamo=True, external_data=False,
                      optimize=False, verbose=False)
    commit_file(tmp, path)  # a failed export leaves no half-written model behind
    return names


def onnx_session(path: str, num_threads: int = 0):
    """An onnxruntime CPU session (``num_threads`` 0: onnxruntime's default)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


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
