"""Checkpoint safety under torch's weights_only unpickler (mmevit/checkpoint.py)."""
import os
import pickle

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint


class _RunsCode:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    marker = tmp_path / 'executed'
    path = str(tmp_path / 'crafted.pth')
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': {'x': _RunsCode(marker)}}, path)
    with pytest.raises(pickle.UnpicklingError) as err:
        _load_checkpoint(path)
    message = str(err.value)
    assert f'Refusing to load checkpoint {path}' in message
    assert 'system' in message  # names the offending object
    assert not marker.exists()


def test_history_buffer_getattr_is_narrow(tmp_path):
    # A checkpoint may name getattr only for HistoryBuffer's statistics methods.
    from mmengine.logging import HistoryBuffer

    class _GetattrPayload:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    path = str(tmp_path / 'getattr.pth')
    torch.save({'meta': _GetattrPayload()}, path)
    with pytest.raises(pickle.UnpicklingError, match='is not allowed in a checkpoint'):
        _load_checkpoint(path)


def test_missing_checkpoint_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='no/such.pth'):
        _load_checkpoint(str(tmp_path / 'no/such.pth'))
