"""Checkpoint downloads that end complete or not at all.

A URL is fetched once into torch's hub cache. The body streams into a temporary file of this
process (``NAME.<pid>.<random>.part``), which becomes the cached file by an atomic rename only
once it is complete (its length as announced), within the limits, and verified against a
known SHA-256; on any failure it is removed and one :class:`DownloadError` line names the URL
and the reason. Two processes fetching one URL each rename a complete file into place.

Limits, settable per call or by environment variable: a total deadline
(``MMEVIT_DOWNLOAD_DEADLINE``, seconds, default 3600), on top of the timeout of each read
(``timeout``, 60 s), and a size limit (``MMEVIT_DOWNLOAD_MAX_BYTES``, default 4 GiB; the
authors' largest checkpoints are under 300 MB).
"""
import hashlib
import http.client
import os
import os.path as osp
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional, Tuple

import torch
from mmengine.logging import print_log

from .errors import DownloadError
from .saving import commit_file, remove_quietly

DEFAULT_DEADLINE_S = 3600.0
DEFAULT_MAX_BYTES = 4 << 30
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


def _without_fragment(url: str) -> str:
    return urllib.parse.urlsplit(url)._replace(fragment='').geturl()


def cached_path(url: str, cache_dir: Optional[str] = None) -> str:
    """Where :func:`download_checkpoint` keeps ``url``: torch's hub cache
    (``$TORCH_HOME/hub/checkpoints``), the file name prefixed with a digest of the URL (two
    hosts' ``pytorch_model.bin`` do not collide)."""
    plain = _without_fragment(url)
    cache_dir = cache_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    name = osp.basename(urllib.parse.urlsplit(plain).path) or 'checkpoint'
    return osp.join(cache_dir, f'{hashlib.sha256(plain.encode()).hexdigest()[:8]}-{name}')


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _limit(value: Optional[float], variable: str, default: float) -> float:
    if value is not None:
        return value
    text = os.environ.get(variable)
    try:
        return float(text) if text else default
    except ValueError:
        raise DownloadError(f'{variable}={text!r}: expected a number') from None


def _fetch(url: str, part: str, timeout: float, deadline: float, max_bytes: float) -> None:
    """Stream ``url`` into ``part`` within the limits; raise DownloadError otherwise."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, 'wb') as f:
            announced = response.headers.get('Content-Length', '')
            announced = int(announced) if announced.isdigit() else None
            if announced is not None and announced > max_bytes:
                raise DownloadError(f'{url}: {announced} bytes, more than the limit of '
                                    f'{max_bytes:.0f} (MMEVIT_DOWNLOAD_MAX_BYTES)')
            received = 0
            # read1: what one read brings, so the deadline is checked between reads even
            # when the server trickles
            while chunk := response.read1(_CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise DownloadError(f'{url}: more than the limit of {max_bytes:.0f} bytes '
                                        f'(MMEVIT_DOWNLOAD_MAX_BYTES); stopped')
                if time.monotonic() - start > deadline:
                    raise DownloadError(
                        f'{url}: not complete after {deadline:.0f} s ({received} bytes; '
                        f'MMEVIT_DOWNLOAD_DEADLINE); stopped')
                f.write(chunk)
            if announced is not None and received != announced:
                raise DownloadError(f'{url}: the server sent {received} of the {announced} '
                                    f'bytes it announced')
    except DownloadError:
        raise
    except urllib.error.HTTPError as err:  # the server's answer: 'HTTP Error 404: Not Found'
        raise DownloadError(f'Could not download {url}: {err}') from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
        reason = getattr(err, 'reason', None) or f'{type(err).__name__}: {err}'
        reason = ' '.join(str(reason).split())  # one line, even for a garbled status line
        raise DownloadError(f'Could not download {url}: {reason}') from None


def download_checkpoint(url: str, cache_dir: Optional[str] = None, timeout: float = 60,
                        deadline: Optional[float] = None,
                        max_bytes: Optional[float] = None) -> str:
    """Fetch ``url`` into the cache unless it is there already; return the local path.

    Args:
        url (str): ``http(s)://`` URL, optionally with ``#sha256=<hex>``.
        cache_dir (str, optional): Defaults to torch's hub cache.
        timeout (float): Seconds each network read may take. Defaults to 60.
        deadline (float, optional): Seconds the whole download may take. Defaults to
            ``MMEVIT_DOWNLOAD_DEADLINE`` or 3600.
        max_bytes (float, optional): Largest accepted body. Defaults to
            ``MMEVIT_DOWNLOAD_MAX_BYTES`` or 4 GiB.

    A cached file is verified again on every use where the hash is known; where it is not,
    the computed hash is logged once, to pin it with ``#sha256=``.

    Raises:
        DownloadError: One line naming the URL and what went wrong; nothing is cached.
    """
    expected, source = expected_sha256(url)
    path = cached_path(url, cache_dir)
    plain = _without_fragment(url)
    if osp.isfile(path):
        if expected is not None:
            actual = _sha256_of(path)
            if not actual.startswith(expected):
                raise DownloadError(f'{plain}: the cached {path} has SHA-256 {actual}, not '
                                    f'{expected} (from {source}); delete it to download again')
        return path
    deadline = _limit(deadline, 'MMEVIT_DOWNLOAD_DEADLINE', DEFAULT_DEADLINE_S)
    max_bytes = _limit(max_bytes, 'MMEVIT_DOWNLOAD_MAX_BYTES', DEFAULT_MAX_BYTES)
    os.makedirs(osp.dirname(path), exist_ok=True)
    part = f'{path}.{os.getpid()}.{secrets.token_hex(4)}.part'  # this process's own
    print_log(f'Downloading {plain} to {path}', logger='current')
    try:
        _fetch(plain, part, timeout, deadline, max_bytes)
        actual = _sha256_of(part)
        if expected is not None and not actual.startswith(expected):
            raise DownloadError(f'{plain}: SHA-256 {actual} does not match {expected} '
                                f'(from {source}); nothing was kept')
        commit_file(part, path)
    except BaseException:
        remove_quietly(part)
        raise
    if expected is None:
        print_log(f'{plain} has SHA-256 {actual}; append #sha256={actual} to the URL to '
                  f'check it on every use', logger='current')
    return path
