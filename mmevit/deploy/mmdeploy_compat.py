"""What mmdeploy 1.3.1 (December 2023, the last release) needs from current torch, in one
place, applied only around its exports.

- torch 2.9+ exports ONNX with the dynamo exporter by default; mmdeploy's rewriters patch the
  TorchScript-based exporter (they replace functions while ``torch.onnx.export`` traces), so
  its exports must run with ``dynamo=False``;
- its RoIAlign symbolic (Mask R-CNN) imports ``torch.onnx.symbolic_opset9._cast_Long``, which
  torch has since removed: a cast to int64.

:func:`torchscript_onnx_export` provides both inside a ``with`` block and restores torch
afterwards; ``tools/deployment/deploy.py`` wraps mmdeploy's ``torch2onnx`` in it.
"""
import contextlib
import functools
import importlib
from typing import Iterator

import torch

_ONNX_INT64 = 7  # onnx.TensorProto.INT64


def _cast_long(g, input, non_blocking):
    """``Cast`` to int64, as torch's removed ``_cast_Long`` symbolic helper built it."""
    return g.op('Cast', input, to_i=_ONNX_INT64)


@contextlib.contextmanager
def torchscript_onnx_export() -> Iterator[None]:
    """Inside the block, ``torch.onnx.export(...)`` means ``torch.onnx.export(...,
    dynamo=False)`` unless the caller passes ``dynamo`` itself, and
    ``symbolic_opset9._cast_Long`` exists."""
    original = torch.onnx.export

    @functools.wraps(original)
    def export(*args, **kwargs):
        kwargs.setdefault('dynamo', False)
        return original(*args, **kwargs)

    # the module mmdeploy imports from (torch.onnx's attribute is another object)
    symbolic_opset9 = importlib.import_module('torch.onnx.symbolic_opset9')
    added_cast = not hasattr(symbolic_opset9, '_cast_Long')
    torch.onnx.export = export
    if added_cast:
        symbolic_opset9._cast_Long = _cast_long
    try:
        yield
    finally:
        torch.onnx.export = original
        if added_cast:
            del symbolic_opset9._cast_Long
