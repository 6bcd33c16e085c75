"""Checkpoints (mmevit/checkpoint.py): safe loading under torch's weights_only unpickler, errors
that say which of three things is wrong, atomic writes, and the resume candidate."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

from mmevit.checkpoint import (AtomicLocalBackend, CorruptCheckpointError,
                               NotACheckpointError, UnsafeCheckpointError,
                               find_resumable_checkpoint, safe_torch_load)


class _RunsCode:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def _mmengine_checkpoint(path, **extra):
    hub = {'log_scalars': {'train/loss': HistoryBuffer([1.0, 2.0], [1, 1]),
                           'empty': HistoryBuffer()}}
    checkpoint = {'state_dict': {'w': torch.arange(4.)}, 'message_hub': hub,
                  'meta': {'epoch': 1, 'seed': np.int64(3), 'empty': np.array([]),
                           'empty_int': np.zeros((0, 2), np.int64), 'dtype': np.dtype('f4')},
                  **extra}
    save_checkpoint(checkpoint, str(path))
    return str(path)


def test_everything_mmengine_writes_loads(tmp_path):
    loaded = _load_checkpoint(_mmengine_checkpoint(tmp_path / 'epoch_1.pth'))
    assert torch.equal(loaded['state_dict']['w'], torch.arange(4.))
    hub = loaded['message_hub']['log_scalars']
    assert hub['train/loss'].mean() == 1.5 and len(hub['empty'].data[0]) == 0
    meta = loaded['meta']
    assert meta['empty'].shape == (0, ) and meta['empty_int'].shape == (0, 2)
    assert meta['seed'] == 3 and meta['dtype'] == np.float32


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    marker = tmp_path / 'executed'
    path = str(tmp_path / 'crafted.pth')
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': {'x': _RunsCode(marker)}}, path)
    with pytest.raises(pickle.UnpicklingError) as err:
        _load_checkpoint(path)
    assert isinstance(err.value, UnsafeCheckpointError)
    message = str(err.value)
    assert f'Refusing to load checkpoint {path}' in message
    assert message.endswith(f'could run arbitrary code: {os.system.__module__}.system')
    assert not marker.exists()


def test_history_buffer_getattr_is_narrow(tmp_path):
    # A checkpoint may name getattr only for HistoryBuffer's statistics methods.
    class _GetattrPayload:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    path = str(tmp_path / 'getattr.pth')
    torch.save({'meta': _GetattrPayload()}, path)
    with pytest.raises(UnsafeCheckpointError, match='is not allowed in a checkpoint'):
        _load_checkpoint(path)


def test_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / 'notes.pth'
    path.write_text('hello\n!')
    with pytest.raises(NotACheckpointError) as err:
        safe_torch_load(str(path))
    assert str(err.value) == (f"Not a checkpoint: {path} (7 bytes) is neither the zip archive "
                              f"nor the pickle torch.save writes, nor safetensors (it starts "
                              f"with b'hell')")


@pytest.mark.parametrize('zipped', [True, False])
def test_truncated_checkpoint_is_named_with_its_size(zipped, tmp_path):
    full, path = tmp_path / 'full.pth', tmp_path / 'epoch_2.pth'
    torch.save({'state_dict': {'w': torch.randn(1024, 1024)}}, full,
               _use_new_zipfile_serialization=zipped)
    path.write_bytes(full.read_bytes()[:3_000_000])  # what a crash mid-write leaves
    with pytest.raises(CorruptCheckpointError) as err:
        safe_torch_load(str(path))
    assert str(err.value).startswith(f'Truncated or corrupt checkpoint {path} (3000000 bytes):')
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CorruptCheckpointError, match=f'{empty} \\(0 bytes\\): the file is empty'):
        safe_torch_load(str(empty))


def test_local_writes_are_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / 'epoch_1.pth')
    backend = get_file_backend(path)
    assert isinstance(backend, AtomicLocalBackend)  # what mmengine's savers get
    save_checkpoint({'state_dict': {'w': torch.zeros(2)}}, path)

    def crash(fd):
        raise KeyboardInterrupt('killed while the new checkpoint is synced')
    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({'state_dict': {'w': torch.ones(2)}}, path)
    monkeypatch.undo()
    assert torch.equal(safe_torch_load(path)['state_dict']['w'], torch.zeros(2))  # untouched
    assert os.path.exists(path + '.part')  # the unfinished write, beside it
    backend.put_text('epoch_1.pth', str(tmp_path / 'marker'))
    assert (tmp_path / 'marker').read_text() == 'epoch_1.pth'


def test_resume_candidate_skips_unreadable_checkpoints(tmp_path):
    assert find_resumable_checkpoint(str(tmp_path / 'absent')) == (None, [])
    first = _mmengine_checkpoint(tmp_path / 'epoch_1.pth')
    second = _mmengine_checkpoint(tmp_path / 'epoch_2.pth')
    third = tmp_path / 'epoch_3.pth'
    third.write_bytes(open(second, 'rb').read()[:100])
    (tmp_path / 'last_checkpoint').write_text(str(third))
    path, skipped = find_resumable_checkpoint(str(tmp_path))
    assert path == second
    assert [p for p, _ in skipped] == [str(third)]
    assert skipped[0][1].startswith(f'Truncated or corrupt checkpoint {third} (100 bytes)')
    (tmp_path / 'last_checkpoint').write_text('')  # emptied by a crash: a hint only
    assert find_resumable_checkpoint(str(tmp_path))[0] == second
    third.unlink()
    os.remove(second)
    (tmp_path / 'last_checkpoint').write_text(second)  # names a file that is gone
    path, skipped = find_resumable_checkpoint(str(tmp_path))
    assert path == first and 'not found' in skipped[0][1]


def test_missing_checkpoint_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='no/such.pth'):
        _load_checkpoint(str(tmp_path / 'no/such.pth'))


# ---------------------------------------------------------------- downloads


def _cache_files(tmp_path):
    return sorted(p.name for p in (tmp_path / 'hub').rglob('*') if p.is_file())


def test_pretrained_url_downloads_once_and_loads(http_server, official_checkpoint, tmp_path):
    import hashlib
    import shutil
    from mmevit.models import build_backbone
    root, base, requests = http_server
    shutil.copy(official_checkpoint('efficientvit_m0'), root / 'efficientvit_m0.pth')
    digest = hashlib.sha256((root / 'efficientvit_m0.pth').read_bytes()).hexdigest()
    local = build_backbone('m0', init_cfg=dict(type='Pretrained',
                                               checkpoint=official_checkpoint('efficientvit_m0')))
    local.init_weights()
    for url in (f'{base}/efficientvit_m0.pth', f'{base}/efficientvit_m0.pth#sha256={digest}'):
        model = build_backbone('m0', init_cfg=dict(type='Pretrained', checkpoint=url))
        model.init_weights()  # through mmengine's CheckpointLoader, as configs do
        for (name, a), b in zip(model.state_dict().items(), local.state_dict().values()):
            assert torch.equal(a, b), name
    assert requests == ['/efficientvit_m0.pth']  # the second use hit the cache
    assert len(_cache_files(tmp_path)) == 1 and not any(
        f.endswith('.part') for f in _cache_files(tmp_path))


def test_download_with_another_hash_fails_and_keeps_nothing(http_server, tmp_path):
    from mmevit.checkpoint import DownloadError, download_checkpoint
    root, base, _ = http_server
    torch.save({'state_dict': {'w': torch.zeros(3)}}, root / 'weights-00000000.pth')
    for url, source in ((f'{base}/weights-00000000.pth', 'the file name'),
                        (f'{base}/w.pth#sha256={"0" * 64}', 'the URL')):
        if url.endswith('0' * 64):
            (root / 'w.pth').write_bytes((root / 'weights-00000000.pth').read_bytes())
        with pytest.raises(DownloadError) as err:
            download_checkpoint(url)
        plain = url.split('#')[0]
        assert str(err.value).startswith(f'{plain}: SHA-256 ')
        assert 'does not match 0000000' in str(err.value) and f'(from {source})' in str(err.value)
    assert _cache_files(tmp_path) == []
    with pytest.raises(DownloadError,
                       match=f'Could not download {base}/absent.pth: HTTP Error 404'):
        download_checkpoint(f'{base}/absent.pth')
    assert _cache_files(tmp_path) == []


def test_downloaded_crafted_pickle_is_refused(http_server, tmp_path):
    root, base, _ = http_server
    marker = tmp_path / 'executed'
    torch.save({'state_dict': {}, 'meta': _RunsCode(marker)}, root / 'crafted.pth')
    with pytest.raises(UnsafeCheckpointError, match='could run arbitrary code: posix.system'):
        _load_checkpoint(f'{base}/crafted.pth')
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
