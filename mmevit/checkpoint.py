"""Checkpoints that load safely, are written atomically and survive crashes.

Loading. Since torch 2.6, ``torch.load`` refuses every pickled global outside an allow-list,
and mmengine 0.10.7 can then no longer resume from or test its own checkpoints: their
``message_hub`` holds :class:`~mmengine.logging.HistoryBuffer` objects with numpy arrays, and
``meta`` may hold numpy scalars. :func:`safe_torch_load` keeps ``weights_only=True`` and
allows exactly those types, nothing else, and replaces mmengine's loader for local paths. A
file that cannot be loaded raises one of three errors, each naming the file: not a checkpoint
at all, truncated or corrupt (with its size), or holding a disallowed object (with its name).

Writing. mmengine writes checkpoints in place, so a crash while ``epoch_N.pth`` is written
leaves a truncated file. Importing mmevit registers :class:`AtomicLocalBackend` for local
paths in mmengine's file-backend registry: every checkpoint mmengine saves is written to a
temporary file beside it, flushed, synced and renamed into place, so ``last_checkpoint``
(written after the rename) only ever names a complete file.

Resuming. :func:`find_resumable_checkpoint` picks the newest checkpoint of a work dir that
loads, skipping unreadable ones with the reason (``tools/train.py --resume``).
"""
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


class CheckpointError(Exception):
    """A file that cannot be loaded as a checkpoint; the message names it and says why."""


class NotACheckpointError(CheckpointError):
    """The file is neither a zip archive nor a pickle written by ``torch.save``."""


class CorruptCheckpointError(CheckpointError):
    """The file starts like a checkpoint but is truncated or damaged."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The file holds a pickled object outside the allow-list (it could run code)."""


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


#: Everything beyond torch's defaults that an mmengine checkpoint may contain. ``bytes``:
#: numpy pickles the buffer of an empty array (an empty HistoryBuffer's, say) as ``bytes()``.
MMENGINE_SAFE_GLOBALS = [
    HistoryBuffer,
    (_history_buffer_getattr, 'builtins.getattr'),
    bytes,
    *_numpy_globals(),
]

_ZIP_MAGIC = b'PK\x03\x04'  # torch.save's default format since torch 1.6
_PICKLE_PROTOCOL = b'\x80'  # torch.save(..., _use_new_zipfile_serialization=False)


def _describe(filename: str) -> str:
    return f'{filename} ({osp.getsize(filename)} bytes)'


def _check_container(filename: str) -> None:
    """Raise unless the file starts like something ``torch.save`` writes."""
    with open(filename, 'rb') as f:
        head = f.read(4)
    if not head:
        raise CorruptCheckpointError(f'Truncated checkpoint {_describe(filename)}: the file is '
                                     f'empty')
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(filename):
            raise CorruptCheckpointError(
                f'Truncated or corrupt checkpoint {_describe(filename)}: the zip archive '
                f'torch.save writes has no central directory (the write did not finish)')
    elif not head.startswith(_PICKLE_PROTOCOL):
        raise NotACheckpointError(
            f'Not a checkpoint: {_describe(filename)} is neither the zip archive nor the '
            f'pickle torch.save writes (it starts with {head!r})')


def safe_torch_load(filename: str, map_location=None):
    """``torch.load(filename, weights_only=True)`` with mmengine's own types allowed.

    Args:
        filename (str): Local checkpoint path.
        map_location: As for :func:`torch.load`.

    Raises:
        FileNotFoundError: ``filename`` is not a file.
        NotACheckpointError: The file is not something ``torch.save`` writes.
        CorruptCheckpointError: The file is truncated or damaged; the message gives its size.
        UnsafeCheckpointError: The file holds a pickled object outside the allow-list
            (possibly crafted to run code); the message names the object. Nothing in the
            file runs.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint file not found: {filename}')
    _check_container(filename)
    with torch.serialization.safe_globals(MMENGINE_SAFE_GLOBALS):
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            if 'Weights only load failed' in str(err) or 'not allowed in a checkpoint' in str(
                    err):
                raise UnsafeCheckpointError(
                    f'Refusing to load checkpoint {filename}: it holds a pickled object '
                    f'outside the allow-list of weights and mmengine metadata, which could '
                    f'run arbitrary code: {_refused_object(err)}') from None
            raise CorruptCheckpointError(
                f'Corrupt checkpoint {_describe(filename)}: {_first_line(err)}') from None
        except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
            raise CorruptCheckpointError(
                f'Truncated or corrupt checkpoint {_describe(filename)}: '
                f'{_first_line(err)}') from None


def _refused_object(err: Exception) -> str:
    """The global torch's unpickler refused (``posix.system``), else its reason."""
    message = str(err)
    found = re.search(r'unsupported (?:global: )?GLOBAL ([\w.]+)', message, re.IGNORECASE)
    if found:
        return found.group(1)
    reasons = [p.strip() for p in message.split('\n\n') if p.strip() and not p.strip().startswith(
        ('Weights only load failed', 'Check the documentation'))]
    return reasons[0] if reasons else _first_line(err)


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename, map_location):
    """mmengine's loader for local paths, routed through :func:`safe_torch_load`."""
    return safe_torch_load(filename, map_location)


# ---------------------------------------------------------------- writing


def commit_file(tmp: str, path: str) -> None:
    """Make the finished ``tmp`` file durable and rename it to ``path`` atomically."""
    with open(tmp, 'rb') as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself
    finally:
        os.close(directory)


def atomic_write(path: str, data: Union[bytes, str], encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``path`` through a temporary file beside it: ``path`` is either
    absent, its old content, or all of ``data``, whenever the process dies."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.part'
    with open(tmp, 'wb') as f:
        f.write(data.encode(encoding) if isinstance(data, str) else data)
        f.flush()
    commit_file(tmp, path)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` and ``put_text``
    (:func:`atomic_write`); registered for local paths when mmevit is imported."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), obj, encoding)


register_backend('local', AtomicLocalBackend, force=True, prefixes='')


# ---------------------------------------------------------------- resuming


def _checkpoints_newest_first(work_dir: str) -> List[str]:
    """``last_checkpoint``'s target, then ``epoch_N.pth``/``iter_N.pth`` by falling N."""
    numbered = []
    for name in os.listdir(work_dir):
        match = re.fullmatch(r'(epoch|iter)_(\d+)\.pth', name)
        if match:
            numbered.append((int(match.group(2)), osp.join(work_dir, name)))
    paths = [p for _, p in sorted(numbered, reverse=True)]
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            named = f.read().strip()
        if named:
            named = osp.join(work_dir, osp.basename(named)) if not osp.isfile(named) else named
            paths = [named] + [p for p in paths if osp.abspath(p) != osp.abspath(named)]
    return paths


def find_resumable_checkpoint(work_dir: str) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """The newest checkpoint of ``work_dir`` that loads, and those skipped on the way.

    Candidates are the file ``last_checkpoint`` names, then ``epoch_N.pth`` and
    ``iter_N.pth`` from the highest N down; each is loaded with :func:`safe_torch_load`.

    Returns:
        tuple: The path (None when no checkpoint loads, or there is none) and a list of
        ``(path, reason)`` for every newer candidate that could not be loaded.
    """
    if not osp.isdir(work_dir):
        return None, []
    skipped = []
    for path in _checkpoints_newest_first(work_dir):
        try:
            safe_torch_load(path, map_location='cpu')
        except (CheckpointError, FileNotFoundError) as err:
            skipped.append((path, str(err)))
            continue
        return path, skipped
    return None, skipped
