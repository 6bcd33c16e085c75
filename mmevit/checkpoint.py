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

Downloading. ``init_cfg=dict(type='Pretrained', checkpoint='https://...')`` (and every other
``http(s)://`` checkpoint mmengine loads) goes through :func:`download_checkpoint`: the file
is fetched once into torch's hub cache, its SHA-256 checked when one is known, and it is
loaded with :func:`safe_torch_load` like a local file.
"""
import hashlib
import os
import os.path as osp
import pickle
import re
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import CheckpointLoader


class CheckpointError(Exception):
    """A file that cannot be loaded as a checkpoint; the message names it and says why."""


class NotACheckpointError(CheckpointError):
    """The file is none of the formats checkpoints come in (``torch.save``'s zip archive or
    pickle, safetensors)."""


class CorruptCheckpointError(CheckpointError):
    """The file starts like a checkpoint but is truncated or damaged."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The file holds a pickled object outside the allow-list (it could run code)."""


class DownloadError(CheckpointError):
    """A checkpoint URL could not be fetched, or its content has another SHA-256."""


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


def _is_safetensors(filename: str) -> bool:
    """safetensors (timm's hub files): a little-endian header length, then a JSON header."""
    with open(filename, 'rb') as f:
        head = f.read(9)
    return (len(head) == 9 and head[8:9] == b'{'
            and 2 <= int.from_bytes(head[:8], 'little') <= osp.getsize(filename) - 8)


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
            f'pickle torch.save writes, nor safetensors (it starts with {head!r})')


def safe_torch_load(filename: str, map_location=None):
    """``torch.load(filename, weights_only=True)`` with mmengine's own types allowed.

    Args:
        filename (str): Local checkpoint path.
        map_location: As for :func:`torch.load`.

    safetensors files (timm's hub weights) load too: they hold tensors only.

    Raises:
        FileNotFoundError: ``filename`` is not a file.
        NotACheckpointError: The file is neither what ``torch.save`` writes nor safetensors.
        CorruptCheckpointError: The file is truncated or damaged; the message gives its size.
        UnsafeCheckpointError: The file holds a pickled object outside the allow-list
            (possibly crafted to run code); the message names the object. Nothing in the
            file runs.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint file not found: {filename}')
    if _is_safetensors(filename):  # tensors only, nothing to unpickle
        from safetensors.torch import load_file
        try:
            return load_file(filename, device=str(map_location or 'cpu'))
        except Exception as err:  # safetensors raises its own error types
            raise CorruptCheckpointError(
                f'Corrupt safetensors file {_describe(filename)}: {_first_line(err)}') from None
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


# ---------------------------------------------------------------- downloading

# torch.hub's convention: ``name-<first hex digits of the SHA-256>.ext``
_HASH_PREFIX = re.compile(r'-([a-f0-9]{8,64})\.[^.]+$')
_CHUNK = 1 << 20


def expected_sha256(url: str) -> Tuple[Optional[str], str]:
    """The SHA-256 (or its prefix) a checkpoint URL pins, and where it says so.

    ``URL#sha256=<64 hex digits>`` pins the whole hash (pip's convention); otherwise a file
    named ``name-<8 or more hex digits>.ext`` pins a prefix (torch.hub's); otherwise nothing.
    """
    parsed = urllib.parse.urlsplit(url)
    fragment = urllib.parse.parse_qs(parsed.fragment)
    if 'sha256' in fragment:
        digest = fragment['sha256'][0].lower()
        if not re.fullmatch(r'[a-f0-9]{64}', digest):
            raise DownloadError(f'{url}: #sha256= needs 64 hex digits, got {digest!r}')
        return digest, 'the URL'
    found = _HASH_PREFIX.search(osp.basename(parsed.path))
    return (found.group(1), 'the file name') if found else (None, '')


def cached_path(url: str, cache_dir: Optional[str] = None) -> str:
    """Where :func:`download_checkpoint` keeps ``url``: torch's hub cache
    (``$TORCH_HOME/hub/checkpoints``), the file name prefixed with a digest of the URL (two
    hosts' ``pytorch_model.bin`` do not collide)."""
    plain = urllib.parse.urlsplit(url)._replace(fragment='').geturl()
    cache_dir = cache_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    name = osp.basename(urllib.parse.urlsplit(plain).path) or 'checkpoint'
    return osp.join(cache_dir, f'{hashlib.sha256(plain.encode()).hexdigest()[:8]}-{name}')


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def download_checkpoint(url: str, cache_dir: Optional[str] = None, timeout: float = 60) -> str:
    """Fetch ``url`` into the cache unless it is there already; return the local path.

    The download streams into ``PATH.part``, which is removed on any failure, and is renamed
    to the cached path only once complete and, where :func:`expected_sha256` knows the hash,
    verified; a cached file is verified again on every use. Where no hash is known, the
    computed one is logged, to pin it with ``#sha256=``.

    Raises:
        DownloadError: One line naming the URL and what went wrong (the network error, or the
            expected and actual SHA-256).
    """
    expected, source = expected_sha256(url)
    path = cached_path(url, cache_dir)
    plain = urllib.parse.urlsplit(url)._replace(fragment='').geturl()
    if not osp.isfile(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
        part = f'{path}.part'
        print_log(f'Downloading {plain} to {path}', logger='current')
        try:
            with urllib.request.urlopen(plain, timeout=timeout) as response, \
                    open(part, 'wb') as f:
                for chunk in iter(lambda: response.read(_CHUNK), b''):
                    f.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as err:
            if osp.exists(part):
                os.remove(part)
            # 'HTTP Error 404: ...' for a server's answer, the cause for a failed connection
            reason = err if isinstance(err, urllib.error.HTTPError) else getattr(
                err, 'reason', err)
            raise DownloadError(f'Could not download {plain}: {reason}') from None
        actual = _sha256_of(part)
        if expected is not None and not actual.startswith(expected):
            os.remove(part)
            raise DownloadError(f'{plain}: SHA-256 {actual} does not match {expected} '
                                f'(from {source}); nothing was kept')
        commit_file(part, path)
        if expected is None:
            print_log(f'{plain} has SHA-256 {actual}; append #sha256={actual} to the URL to '
                      f'check it on every use', logger='current')
    elif expected is not None:
        actual = _sha256_of(path)
        if not actual.startswith(expected):
            raise DownloadError(f'{plain}: the cached {path} has SHA-256 {actual}, not '
                                f'{expected} (from {source}); delete it to download again')
    return path


@CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), force=True)
def load_from_http(filename, map_location=None):
    """mmengine's loader for URLs: :func:`download_checkpoint`, then :func:`safe_torch_load`.
    In distributed runs the first process downloads while the others wait, as mmengine's."""
    rank, world_size = get_dist_info()
    if rank == 0:
        path = download_checkpoint(filename)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            path = download_checkpoint(filename)
    return safe_torch_load(path, map_location)
