"""Inference forms of mmevit's models (the fast path, ONNX export) and the compiled path
for inference and training (torch.compile, CUDA graphs on GPUs)."""
from .compile import (DEFAULT_MODULES, NETWORK_MODULES, accelerate, compile_model,
                      half_precision)
from .fast_path import compiled, deployed_copy, fast_path
from .onnx import export_onnx, onnx_max_relative_error, onnx_session
from .wrappers import FlatOutputs, TensorForward, flatten, max_relative_error

__all__ = ['fast_path', 'deployed_copy', 'compiled', 'compile_model', 'accelerate',
           'half_precision', 'DEFAULT_MODULES', 'NETWORK_MODULES', 'export_onnx', 'onnx_session',
           'onnx_max_relative_error', 'TensorForward', 'FlatOutputs', 'flatten',
           'max_relative_error']
