"""Downloads (mmevit/checkpoint/download.py) from loopback servers on 127.0.0.1, well-behaved
and not: complete or nothing, one line naming the URL, a total deadline and a size limit,
and concurrent downloads of one URL that both end with the right file."""
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint

from mmevit.checkpoint import (CorruptCheckpointError, DownloadError, UnsafeCheckpointError,
                               cached_path, download_checkpoint, safe_torch_load)


def cache_files(tmp_path):
    return sorted(p.name for p in (tmp_path / 'hub').rglob('*') if p.is_file())


@pytest.fixture()
def raw_server(tmp_path, monkeypatch):
    """A server on 127.0.0.1 that answers every connection with ``respond(connection)`` (set
    by the test); torch's hub cache moves to ``tmp_path / 'hub'``."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    listener.settimeout(0.2)
    state = {'respond': None, 'stop': False}

    def answer(connection):
        with connection:
            connection.recv(65536)  # the request
            try:
                state['respond'](connection)
            except OSError:  # the client gave up
                pass

    def serve():  # a thread per connection: concurrent clients overlap
        while not state['stop']:
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=answer, args=(connection, ), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    yield state, f'http://127.0.0.1:{listener.getsockname()[1]}'
    state['stop'] = True
    thread.join(timeout=5)
    listener.close()


def test_pretrained_url_downloads_once_and_loads(http_server, official_checkpoint, tmp_path):
    from mmevit.models import build_backbone
    root, base, requests = http_server
    shutil.copy(official_checkpoint('efficientvit_m0'), root / 'efficientvit_m0.pth')
    digest = hashlib.sha256((root / 'efficientvit_m0.pth').read_bytes()).hexdigest()
    local = build_backbone('m0', init_cfg=dict(type='Pretrained',
                                               checkpoint=official_checkpoint('efficientvit_m0')))
    local.init_weights()
    for url in (f'{base}/efficientvit_m0.pth', f'{base}/efficientvit_m0.pth#sha256={digest}'):
        model = build_backbone('m0', init_cfg=dict(type='Pretrained', checkpoint=url))
        model.init_weights()  # mmevit.checkpoint.load_checkpoint, as configs do
        for (name, a), b in zip(model.state_dict().items(), local.state_dict().values()):
            assert torch.equal(a, b), name
    assert requests == ['/efficientvit_m0.pth']  # the second use hit the cache
    assert len(cache_files(tmp_path)) == 1


def test_download_with_another_hash_fails_and_keeps_nothing(http_server, tmp_path):
    root, base, _ = http_server
    torch.save({'state_dict': {'w': torch.zeros(3)}}, root / 'weights-00000000.pth')
    (root / 'w.pth').write_bytes((root / 'weights-00000000.pth').read_bytes())
    for url, source in ((f'{base}/weights-00000000.pth', 'the file name'),
                        (f'{base}/w.pth#sha256={"0" * 64}', 'the URL')):
        with pytest.raises(DownloadError) as err:
            download_checkpoint(url)
        assert str(err.value).startswith(f'{url.split("#")[0]}: SHA-256 ')
        assert 'does not match 0000000' in str(err.value) and f'(from {source})' in str(err.value)
    with pytest.raises(DownloadError,
                       match=f'Could not download {base}/absent.pth: HTTP Error 404'):
        download_checkpoint(f'{base}/absent.pth')
    assert cache_files(tmp_path) == []


def test_downloaded_crafted_pickle_is_refused(http_server, tmp_path):
    root, base, _ = http_server
    marker = tmp_path / 'executed'

    class RunsCode:
        def __reduce__(self):
            return (os.system, (f'touch {marker}', ))
    torch.save({'state_dict': {}, 'meta': RunsCode()}, root / 'crafted.pth')
    with pytest.raises(UnsafeCheckpointError, match='it names posix.system'):
        _load_checkpoint(f'{base}/crafted.pth')  # mmengine's loader, as mmevit.runtime sets it
    assert not marker.exists()


def test_timm_hub_safetensors_load(http_server, official_checkpoint, tmp_path):
    # timm publishes its weights as model.safetensors: tensors only, timm's key names
    from safetensors.torch import save_file
    from mmevit.models import build_backbone
    from mmevit.models.converters import convert_official_mit_keys
    root, base, _ = http_server
    official = torch.load(official_checkpoint('efficientvit_b1'), weights_only=True)['state_dict']
    timm = convert_official_mit_keys({k[len('backbone.'):]: v for k, v in official.items()
                                      if k.startswith('backbone.')})
    (root / 'efficientvit_b1.r224_in1k').mkdir()
    save_file(timm, str(root / 'efficientvit_b1.r224_in1k' / 'model.safetensors'))
    url = f'{base}/efficientvit_b1.r224_in1k/model.safetensors'
    models = [build_backbone('b1', init_cfg=dict(type='Pretrained', checkpoint=source))
              for source in (url, official_checkpoint('efficientvit_b1'))]
    for model in models:
        model.init_weights()
    for (name, a), b in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        assert torch.equal(a, b), name
    broken = tmp_path / 'broken.safetensors'
    data = (root / 'efficientvit_b1.r224_in1k' / 'model.safetensors').read_bytes()
    broken.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match=f'Corrupt safetensors file {broken}'):
        safe_torch_load(str(broken))


def headers(length=None, chunked=False):
    lines = ['HTTP/1.1 200 OK', 'Content-Type: application/octet-stream', 'Connection: close']
    if length is not None:
        lines.append(f'Content-Length: {length}')
    if chunked:
        lines.append('Transfer-Encoding: chunked')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode()


def short_body(connection):
    connection.sendall(headers(length=1000) + b'x' * 500)


def cut_chunked(connection):
    connection.sendall(headers(chunked=True) + b'100\r\n' + b'x' * 0x100 + b'\r\n' + b'100\r\nxx')


def bad_status_line(connection):
    connection.sendall(b'HTTZ/9 what\r\n\r\n')


def reset(connection):
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')


@pytest.mark.parametrize('respond, reason', [
    (short_body, 'the server sent 500 of the 1000 bytes it announced'),
    (cut_chunked, 'Could not download'),
    (bad_status_line, 'Could not download'),
    (reset, 'Could not download'),
])
def test_broken_transfers_end_with_one_line_and_nothing_kept(respond, reason, raw_server,
                                                             tmp_path):
    state, base = raw_server
    state['respond'] = respond
    url = f'{base}/checkpoint.pth'
    with pytest.raises(DownloadError) as err:
        download_checkpoint(url, timeout=5)
    assert url in str(err.value) and reason in str(err.value)
    assert '\n' not in str(err.value)
    assert cache_files(tmp_path) == []  # no file, no .part: the next run downloads again


def test_a_trickling_server_meets_the_deadline(raw_server, tmp_path):
    state, base = raw_server

    def trickle(connection):
        connection.sendall(headers(length=10_000))
        for _ in range(200):  # a byte every 50 ms: each read is quick, the whole is not
            connection.sendall(b'x')
            time.sleep(0.05)
    state['respond'] = trickle
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r'not complete after 1 s'):
        download_checkpoint(f'{base}/slow.pth', timeout=5, deadline=1)
    assert time.monotonic() - start < 4
    assert cache_files(tmp_path) == []


def test_size_limit(raw_server, tmp_path, monkeypatch):
    state, base = raw_server

    def endless(connection):
        connection.sendall(headers())
        for _ in range(10_000):  # bounded: 640 MB at most
            connection.sendall(b'\0' * 65536)
    state['respond'] = endless
    with pytest.raises(DownloadError, match='more than the limit of 1048576 bytes'):
        download_checkpoint(f'{base}/endless.pth', max_bytes=1 << 20)
    # an announced size over the limit is refused before anything is read; the limit can
    # come from the environment
    state['respond'] = lambda connection: connection.sendall(headers(length=5 << 20))
    monkeypatch.setenv('MMEVIT_DOWNLOAD_MAX_BYTES', str(4 << 20))
    with pytest.raises(DownloadError, match='5242880 bytes, more than the limit of 4194304'):
        download_checkpoint(f'{base}/big.pth')
    assert cache_files(tmp_path) == []


CONCURRENT = '''
import sys, torch
torch.hub.set_dir(sys.argv[2])
from mmevit.checkpoint import download_checkpoint
print(download_checkpoint(sys.argv[1]))
'''


def test_two_processes_downloading_one_url_both_get_the_file(raw_server, tmp_path):
    state, base = raw_server
    body = os.urandom(3 << 20)

    both_asked = threading.Barrier(2, timeout=60)

    def slowly(connection):  # the two downloads overlap: neither starts before both asked
        both_asked.wait()
        connection.sendall(headers(length=len(body)))
        for i in range(0, len(body), 256 << 10):
            connection.sendall(body[i:i + (256 << 10)])
            time.sleep(0.05)
    state['respond'] = slowly
    url = f'{base}/shared.pth'
    procs = [subprocess.Popen([sys.executable, '-c', CONCURRENT, url, str(tmp_path / 'hub')],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    downloads = [out.count('Downloading') for out, _ in outs]
    assert downloads == [1, 1]  # both fetched it: neither found it cached
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    path = cached_path(url, str(tmp_path / 'hub' / 'checkpoints'))
    assert [out.strip().splitlines()[-1] for out, _ in outs] == [path, path]
    with open(path, 'rb') as f:
        assert f.read() == body
    assert cache_files(tmp_path) == [os.path.basename(path)]
