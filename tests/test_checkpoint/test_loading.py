"""Safe loading (mmevit/checkpoint/loading.py, unpickling.py): everything mmengine writes
loads, under numpy 1.x names too; crafted files are refused without running anything,
corrupting memory or changing the process; damage is reported as damage, never as an attack
or as another exception."""
import os
import random
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

from mmevit.checkpoint import (CheckpointError, CorruptCheckpointError, NotACheckpointError,
                               UnsafeCheckpointError, find_resumable_checkpoint,
                               safe_torch_load)


class Crafted:
    """Pickles as ``reduce`` says: how an attacker writes a checkpoint."""

    def __init__(self, *reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


def mmengine_checkpoint(path, **extra):
    hub = {'log_scalars': {'train/loss': HistoryBuffer([1.0, 2.0], [1, 1]),
                           'empty': HistoryBuffer()}}
    checkpoint = {'state_dict': {'w': torch.arange(4.)}, 'message_hub': hub,
                  'meta': {'epoch': 1, 'iter': 10, 'seed': np.int64(3), 'empty': np.array([]),
                           'empty_int': np.zeros((0, 2), np.int64), 'dtype': np.dtype('f4'),
                           'big_endian': np.arange(3, dtype='>i4'),
                           'fortran': np.asfortranarray(np.arange(6.).reshape(2, 3))},
                  **extra}
    save_checkpoint(checkpoint, str(path))
    return str(path)


def test_everything_mmengine_writes_loads(tmp_path):
    loaded = _load_checkpoint(mmengine_checkpoint(tmp_path / 'epoch_1.pth'))
    assert torch.equal(loaded['state_dict']['w'], torch.arange(4.))
    hub = loaded['message_hub']['log_scalars']
    assert type(hub['train/loss']) is HistoryBuffer and hub['train/loss'].mean() == 1.5
    assert hub['train/loss'].statistics('max') == 2.0 and len(hub['empty'].data[0]) == 0
    meta = loaded['meta']
    assert meta['empty'].shape == (0, ) and meta['empty_int'].shape == (0, 2)
    assert meta['seed'] == 3 and type(meta['seed']) is np.int64 and meta['dtype'] == np.float32
    assert meta['big_endian'].dtype == np.dtype('>i4') and meta['big_endian'].tolist() == [0, 1, 2]
    assert np.array_equal(meta['fortran'], np.arange(6.).reshape(2, 3))


def rewrite_pickle(src, dst, edit):
    """``src`` with its data.pkl edited and every CRC-32 valid again (what a tool that
    rewrites archives, or an attacker, produces)."""
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as b:
        for info in a.infolist():
            data = a.read(info)
            b.writestr(info.filename, edit(data) if info.filename.endswith('/data.pkl') else data)
    return str(dst)


def test_numpy_1_checkpoints_load(tmp_path):
    # numpy 1.x wrote numpy.core.multiarray where numpy 2 writes numpy._core.multiarray
    written = mmengine_checkpoint(tmp_path / 'numpy2.pth')
    old = rewrite_pickle(written, tmp_path / 'numpy1.pth',
                         lambda d: d.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))
    with zipfile.ZipFile(old) as archive:
        pickled = archive.read(next(n for n in archive.namelist() if n.endswith('data.pkl')))
    assert b'numpy.core.multiarray' in pickled and b'numpy._core' not in pickled
    loaded = safe_torch_load(old)
    assert loaded['meta']['seed'] == 3 and loaded['message_hub']['log_scalars'][
        'train/loss'].mean() == 1.5


def refused(tmp_path, payload, name='crafted.pth'):
    path = str(tmp_path / name)
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': {'x': payload}}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        safe_torch_load(path)
    message = str(err.value)
    assert message.startswith(f'Refusing to load checkpoint {path}:')
    assert message.endswith('nothing of it ran')
    return message


def test_pickled_code_is_refused_and_named(tmp_path):
    marker = tmp_path / 'executed'
    message = refused(tmp_path, Crafted(os.system, (f'touch {marker}', )))
    assert f'it names {os.system.__module__}.system, outside the allow-list' in message
    assert not marker.exists()


def test_getattr_serves_only_the_statistics_methods(tmp_path):
    message = refused(tmp_path, Crafted(getattr, (HistoryBuffer, '__init__')))
    assert "getattr(HistoryBuffer, '__init__')" in message


LOAD_IN_A_CHILD = '''
import sys
import mmevit
from mmevit.checkpoint import CheckpointError, safe_torch_load
for path in sys.argv[1:]:
    try:
        safe_torch_load(path)
        print('loaded', flush=True)
    except CheckpointError as err:
        print(type(err).__name__, err, flush=True)
'''

MEMORY_CORRUPTING = [
    # an object array whose element is a pointer the file chose (SIGSEGV when used)
    (Crafted(np.ndarray, ((1, ), 'O', b'AAAAAAAA')), 'a call of numpy.ndarray'),
    (Crafted(np.ndarray, ((1, ), 'f8', b'AAAAAAAA')), 'a call of numpy.ndarray'),
    # a float64 dtype rebuilt with numpy's 'has object' flags
    (Crafted(np.dtype, ('f8', False, True), (3, '<', None, None, None, -1, -1, 63)),
     "numpy dtype 'f8' built with the state"),
    (Crafted(np.dtype, ('O8', False, True)), "numpy.dtype('O8', False, True)"),
]


def test_memory_corrupting_pickles_are_refused(tmp_path):
    paths = []
    for i, (payload, _) in enumerate(MEMORY_CORRUPTING):
        paths.append(str(tmp_path / f'crafted{i}.pth'))
        torch.save({'meta': {'x': payload}}, paths[-1])
    # in a child process: if a refusal failed, a crash must not take the tests with it
    proc = subprocess.run([sys.executable, '-c', LOAD_IN_A_CHILD, *paths], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == len(paths)
    for line, (_, operation) in zip(lines, MEMORY_CORRUPTING):
        assert line.startswith('UnsafeCheckpointError') and operation in line, line


def test_refused_history_buffer_changes_nothing_in_the_process(tmp_path):
    # HistoryBuffer.__setstate__ would re-bind 'mean' to max for every buffer of the process
    buffer = HistoryBuffer([1., 3.], [1, 1], max_length=5)
    buffer.__getstate__ = lambda: {  # what the pickle then holds as the buffer's state
        'max_length': 5, '_log_history': np.array([1., 3.]), '_count_history': np.array([1, 1]),
        'statistics_methods': {'mean': HistoryBuffer.max}}
    message = refused(tmp_path, buffer)
    assert 'statistics methods' in message
    # a skipped --resume candidate is loaded the same way
    (tmp_path / 'work').mkdir()
    os.replace(tmp_path / 'crafted.pth', tmp_path / 'work' / 'epoch_3.pth')
    assert find_resumable_checkpoint(str(tmp_path / 'work'))[0] is None
    assert HistoryBuffer([1.0, 3.0], [1, 1]).statistics('mean') == 2.0


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


def _member_span(path, suffix):
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(suffix))
    with open(path, 'rb') as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(f.read(4), '<u2')
    start = info.header_offset + 30 + int(name_len) + int(extra_len)
    return start, start + info.compress_size


@pytest.mark.parametrize('region', ['anywhere', 'data.pkl', 'tensor data'])
def test_damage_is_reported_as_damage(region, tmp_path):
    path = mmengine_checkpoint(tmp_path / 'epoch_1.pth')
    original = open(path, 'rb').read()
    span = {'anywhere': (4, len(original)),  # past the magic number, which names the format
            'data.pkl': _member_span(path, '/data.pkl'),
            'tensor data': _member_span(path, '/data/0')}[region]
    rng = random.Random(region)
    damaged_path = tmp_path / 'damaged.pth'
    outcomes = set()
    for _ in range(60):
        damaged = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(*span)
            damaged[at] = (damaged[at] + rng.randrange(1, 256)) % 256
        damaged_path.write_bytes(bytes(damaged))
        try:
            loaded = safe_torch_load(str(damaged_path))
        except CorruptCheckpointError:
            outcomes.add('corrupt')
            continue
        except Exception as err:  # noqa: B902  the failure this test is about
            pytest.fail(f'{type(err).__name__} for damage in {region}: {err}')
        # bytes no check covers (zip timestamps, say) may change: the content may not
        assert torch.equal(loaded['state_dict']['w'], torch.arange(4.))
        outcomes.add('unchanged')
    assert 'corrupt' in outcomes


def test_every_failure_is_a_checkpoint_error(tmp_path):
    # content that is valid pickle and CRC but not what a checkpoint rebuilds
    path = str(tmp_path / 'odd.pth')
    torch.save({'x': Crafted(torch._utils._rebuild_tensor_v2, ('not a storage', 0, (2, ), (1, ),
                                                               False, {}))}, path)
    with pytest.raises(CheckpointError):
        safe_torch_load(path)


def test_missing_checkpoint_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='no/such.pth'):
        _load_checkpoint(str(tmp_path / 'no/such.pth'))


def test_zip_without_pickle_is_not_a_checkpoint(tmp_path):
    path = tmp_path / 'archive.pth'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('readme.txt', 'hello')
    with pytest.raises(NotACheckpointError, match='a zip archive without the data.pkl'):
        safe_torch_load(str(path))


def test_safetensors_load_and_damaged_ones_are_named(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / 'model.safetensors'
    save_file({'w': torch.arange(3.)}, str(path))
    assert torch.equal(safe_torch_load(str(path))['w'], torch.arange(3.))
    data = path.read_bytes()
    path.write_bytes(data[:-4])
    with pytest.raises(CorruptCheckpointError, match='Corrupt safetensors file'):
        safe_torch_load(str(path))
