"""Loading checkpoints safely: :func:`safe_torch_load` for local files and
:func:`load_checkpoint`, the one loader mmevit's models and tools call (local paths and
``http(s)://`` URLs).

A file is checked in the order that tells damage from a crafted file:

1. its format: ``torch.save``'s zip archive or pickle, or safetensors (else
   :class:`NotACheckpointError`);
2. the zip archive: complete (central directory), one ``data.pkl``, and every member's
   CRC-32: flipped bytes anywhere, tensor data included, are found here, before anything is
   unpickled (:class:`CorruptCheckpointError`);
3. the globals its pickle names: torch's weights-only defaults and the stand-ins of
   :mod:`mmevit.checkpoint.unpickling` only (else :class:`UnsafeCheckpointError`, naming
   them); the old pickle format has no checksums, so damage there can look like this;
4. torch's weights-only unpickler with the stand-ins, whose refusals name the operation
   (:class:`UnsafeCheckpointError`); any other failure is damage
   (:class:`CorruptCheckpointError`).
"""
import os.path as osp
import pickle
import pickletools
import zipfile

import torch
from mmengine.dist import get_dist_info

from .download import download_checkpoint
from .errors import CorruptCheckpointError, NotACheckpointError, UnsafeCheckpointError
from .unpickling import BUILD_TARGETS, STAND_INS, Refused, finish, pickle_globals

_ZIP_MAGIC = b'PK\x03\x04'  # torch.save's default format since torch 1.6
_PICKLE_PROTOCOL = b'\x80'  # torch.save(..., _use_new_zipfile_serialization=False)
_LEGACY_PICKLES = 5  # magic number, protocol, system info, the data, the storage keys


def _describe(filename: str) -> str:
    return f'{filename} ({osp.getsize(filename)} bytes)'


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _is_safetensors(filename: str) -> bool:
    """safetensors (timm's hub files): a little-endian header length, then a JSON header."""
    with open(filename, 'rb') as f:
        head = f.read(9)
    return (len(head) == 9 and head[8:9] == b'{'
            and 2 <= int.from_bytes(head[:8], 'little') <= osp.getsize(filename) - 8)


def _allowed_globals() -> set:
    from torch._weights_only_unpickler import _get_allowed_globals
    return set(_get_allowed_globals()) | set(STAND_INS)


def _checked_zip_pickle(filename: str) -> bytes:
    """The ``data.pkl`` of a torch zip archive whose members all pass their CRC-32 check."""
    try:
        with zipfile.ZipFile(filename) as archive:
            damaged = archive.testzip()  # reads every member: names, sizes and CRC-32
            if damaged is not None:
                raise CorruptCheckpointError(
                    f'Corrupt checkpoint {_describe(filename)}: {damaged} fails its CRC-32 '
                    f'check (the file was damaged after it was written)')
            pickles = [n for n in archive.namelist()
                       if n.endswith('/data.pkl') and n.count('/') == 1]
            if len(pickles) != 1:
                raise NotACheckpointError(
                    f'Not a checkpoint: {_describe(filename)} is a zip archive without the '
                    f'data.pkl torch.save writes')
            return archive.read(pickles[0])
    except zipfile.BadZipFile as err:
        reason = ("the zip archive torch.save writes has no central directory (the write did "
                  "not finish)" if 'central directory' in str(err) or 'not a zip' in str(err)
                  else _first_line(err))
        raise CorruptCheckpointError(
            f'Truncated or corrupt checkpoint {_describe(filename)}: {reason}') from None
    except (OSError, EOFError, ValueError, NotImplementedError) as err:
        raise CorruptCheckpointError(
            f'Truncated or corrupt checkpoint {_describe(filename)}: {_first_line(err)}') from None


def _scan_globals(filename: str, zipped: bool) -> None:
    """Refuse a pickle that names a global outside the allow-list, naming it."""
    try:
        if zipped:
            names = pickle_globals(pickletools.genops(_checked_zip_pickle(filename)))
        else:
            names = set()
            with open(filename, 'rb') as f:
                for _ in range(_LEGACY_PICKLES):
                    names |= pickle_globals(pickletools.genops(f))
    except (ValueError, EOFError, UnicodeDecodeError) as err:
        raise CorruptCheckpointError(
            f'Truncated or corrupt checkpoint {_describe(filename)}: its pickle is damaged '
            f'({_first_line(err)})') from None
    refused = sorted(names - _allowed_globals())
    if refused:
        shown = ', '.join(refused[:3]) + (f' and {len(refused) - 3} more' if len(refused) > 3
                                          else '')
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename}: it names {shown}, outside the allow-list '
            f'of weights and mmengine metadata (a pickle that can run code); nothing of it ran')


def _unpickler_reason(err: pickle.UnpicklingError) -> str:
    """The reason torch's weights-only unpickler gives, without its advice around it."""
    text = str(err)
    marker = 'WeightsUnpickler error: '
    return text.split(marker, 1)[1].splitlines()[0] if marker in text else _first_line(err)


def safe_torch_load(filename: str, map_location=None):
    """``torch.load(filename, weights_only=True)`` with mmengine's own types allowed as data.

    Args:
        filename (str): Local checkpoint path: ``torch.save``'s zip archive or older pickle
            format, or safetensors (timm's hub weights; tensors only).
        map_location: As for :func:`torch.load`.

    Raises:
        FileNotFoundError: ``filename`` is not a file.
        NotACheckpointError: The file is neither what ``torch.save`` writes nor safetensors.
        CorruptCheckpointError: The file is truncated or damaged (a failed CRC-32 check, a
            broken pickle, content that does not rebuild); the message gives its size.
        UnsafeCheckpointError: The file names a global or asks for an operation outside the
            allow-list; the message names it. Nothing in the file runs, and nothing outside
            the returned objects changes.
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint file not found: {filename}')
    if osp.getsize(filename) == 0:
        raise CorruptCheckpointError(f'Truncated checkpoint {_describe(filename)}: the file '
                                     f'is empty')
    if _is_safetensors(filename):
        from safetensors.torch import load_file
        try:
            return load_file(filename, device=str(map_location or 'cpu'))
        except Exception as err:  # safetensors raises its own error types
            raise CorruptCheckpointError(
                f'Corrupt safetensors file {_describe(filename)}: {_first_line(err)}') from None
    with open(filename, 'rb') as f:
        head = f.read(4)
    if not head.startswith((_ZIP_MAGIC, _PICKLE_PROTOCOL)):
        raise NotACheckpointError(
            f'Not a checkpoint: {_describe(filename)} is neither the zip archive nor the '
            f'pickle torch.save writes, nor safetensors (it starts with {head!r})')
    _scan_globals(filename, zipped=head.startswith(_ZIP_MAGIC))
    with torch.serialization.safe_globals(
            [(obj, name) for name, obj in STAND_INS.items()] + BUILD_TARGETS):
        try:
            return finish(torch.load(filename, map_location=map_location, weights_only=True))
        except Refused as err:
            raise UnsafeCheckpointError(f'Refusing to load checkpoint {filename}: it asks for '
                                        f'{err}; nothing of it ran') from None
        except pickle.UnpicklingError as err:  # torch's unpickler refused an operation
            raise UnsafeCheckpointError(
                f'Refusing to load checkpoint {filename}: {_unpickler_reason(err)}; nothing '
                f'of it ran') from None
        except Exception as err:  # anything else: content that does not rebuild
            raise CorruptCheckpointError(
                f'Truncated or corrupt checkpoint {_describe(filename)}: '
                f'{type(err).__name__}: {_first_line(err)}') from None


def load_checkpoint(source: str, map_location='cpu'):
    """Load a checkpoint from a local path or an ``http(s)://`` URL, safely.

    URLs are downloaded once into torch's hub cache (:func:`download_checkpoint`); in
    distributed runs the first process downloads while the others wait. Other schemes
    (``torchvision://``, ``open-mmlab://``, ...) go to mmengine's loaders.

    Args:
        source (str): A path or URL.
        map_location: As for :func:`torch.load`. Defaults to ``'cpu'``.
    """
    if source.startswith(('http://', 'https://')):
        return safe_torch_load(download_in_order(source), map_location)
    if '://' in source:
        from mmengine.runner.checkpoint import CheckpointLoader
        return CheckpointLoader.load_checkpoint(source, map_location=map_location)
    return safe_torch_load(source, map_location)


def download_in_order(url: str) -> str:
    """:func:`download_checkpoint`, by the first process of a distributed run before the
    others (which then find it cached)."""
    rank, world_size = get_dist_info()
    if rank == 0:
        path = download_checkpoint(url)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            path = download_checkpoint(url)
    return path
