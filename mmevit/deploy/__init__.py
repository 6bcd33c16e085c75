"""Inference forms of mmevit's models: the fast path, torch.compile, ONNX export."""
from .fast_path import compiled, deployed_copy, fast_path
from .onnx import export_onnx, onnx_max_relative_error, onnx_session
from .wrappers import FlatOutputs, TensorForward, flatten, max_relative_error

__all__ = ['fast_path', 'deployed_copy', 'compiled', 'export_onnx', 'onnx_session',
           'onnx_max_relative_error', 'TensorForward', 'FlatOutputs', 'flatten',
           'max_relative_error']
