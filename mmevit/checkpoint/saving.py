"""Writes that a crash or a full disk cannot leave half done.

mmengine writes checkpoints in place, so a crash while ``epoch_N.pth`` is written leaves a
truncated file. :func:`atomic_write` writes a temporary file beside the target, flushes and
syncs it and renames it into place: the target is absent, its old content, or all of the
new. :class:`AtomicLocalBackend` is mmengine's local file backend writing that way (installed
by :mod:`mmevit.runtime`). A write that fails (a full disk, say) removes its temporary file
and raises :class:`CheckpointWriteError` naming the file; a killed one leaves ``PATH.part``.
"""
import os
import os.path as osp
from typing import Union

from mmengine.fileio import LocalBackend

from .errors import CheckpointWriteError


def remove_quietly(path: str) -> None:
    """Remove ``path`` if it exists; a failure to do so is not the error to report."""
    try:
        os.remove(path)
    except OSError:
        pass


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
    """Write ``data`` to ``path`` through ``path.part``: whenever the process dies, ``path`` is
    absent, its old content, or all of ``data``.

    Raises:
        CheckpointWriteError: The write failed (disk full, no permission, ...); ``path`` is
            unchanged and ``path.part`` removed.
    """
    tmp = f'{path}.part'
    try:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(tmp, 'wb') as f:
            f.write(data.encode(encoding) if isinstance(data, str) else data)
            f.flush()
        commit_file(tmp, path)
    except OSError as err:
        remove_quietly(tmp)
        raise CheckpointWriteError(
            f'Could not write {path}: {err.strerror or err} ({len(data)} bytes); the file on '
            f'disk, if any, is unchanged') from None


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` and ``put_text``
    (:func:`atomic_write`)."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), obj, encoding)
