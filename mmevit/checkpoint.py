"""Checkpoint loading under torch's ``weights_only`` unpickler.

Since torch 2.6, ``torch.load`` refuses every pickled global outside an allow-list, and
mmengine 0.10.7 can then no longer resume from or test its own checkpoints: their
``message_hub`` holds :class:`~mmengine.logging.HistoryBuffer` objects with numpy arrays, and
``meta`` may hold numpy scalars. This module replaces mmengine's loader for local paths with one
that keeps ``weights_only=True`` and allows exactly those types, nothing else. Any other pickled
object is refused with an error that names the file and the object.
"""
import os.path as osp
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


def _history_buffer_getattr(obj, name):
    """Stand-in for ``builtins.getattr`` while unpickling.

    Pickle protocol 2 writes the statistics methods a HistoryBuffer keeps
    (``HistoryBuffer.min`` ...) as ``getattr(HistoryBuffer, 'min')``. Only that lookup is
    served; a general ``getattr`` would let a checkpoint reach arbitrary attributes.
    """
    if obj is HistoryBuffer and name in ('min', 'max', 'mean', 'current'):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


def _numpy_globals():
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtype_classes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
        np.uint64, np.float16, np.float32, np.float64)]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]


#: Everything beyond torch's defaults that an mmengine checkpoint may contain.
MMENGINE_SAFE_GLOBALS = [
    HistoryBuffer,
    (_history_buffer_getattr, 'builtins.getattr'),
    *_numpy_globals(),
]


def safe_torch_load(filename: str, map_location=None):
    """``torch.load(filename, weights_only=True)`` with mmengine's own types allowed.

    Args:
        filename (str): Local checkpoint path.
        map_location: As for :func:`torch.load`.

    Raises:
        FileNotFoundError: ``filename`` is not a file.
        pickle.UnpicklingError: The file holds a pickled object outside the allow-list
            (possibly crafted to run code); the message names the file and the object.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint file not found: {filename}')
    with torch.serialization.safe_globals(MMENGINE_SAFE_GLOBALS):
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            # torch's message wraps the offending global in advice to disable the check;
            # keep only the paragraphs that say what was found.
            paragraphs = [p.strip() for p in str(err).split('\n\n') if p.strip()]
            reason = ' '.join(p for p in paragraphs if not p.startswith(
                ('Weights only load failed', 'Check the documentation'))) or str(err)
            raise pickle.UnpicklingError(
                f'Refusing to load checkpoint {filename}: it holds a pickled object outside the '
                f'allow-list of weights and mmengine metadata, which could run arbitrary code. '
                f'Details: {reason}') from None


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename, map_location):
    """mmengine's loader for local paths, routed through :func:`safe_torch_load`."""
    return safe_torch_load(filename, map_location)
