"""Writes (mmevit/checkpoint/saving.py) and checkpoint rotation (AtomicCheckpointHook): a crash
or a failed write never leaves less on disk than there was."""
import errno
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.fileio import get_file_backend
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import save_checkpoint

from mmevit.checkpoint import (AtomicLocalBackend, CheckpointWriteError, atomic_write,
                               safe_torch_load)


def test_local_writes_are_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / 'epoch_1.pth')
    backend = get_file_backend(path)
    assert isinstance(backend, AtomicLocalBackend)  # what mmengine's savers get (runtime)
    save_checkpoint({'state_dict': {'w': torch.zeros(2)}}, path)

    def crash(fd):
        raise KeyboardInterrupt('killed while the new checkpoint is synced')
    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({'state_dict': {'w': torch.ones(2)}}, path)
    monkeypatch.undo()
    assert torch.equal(safe_torch_load(path)['state_dict']['w'], torch.zeros(2))  # untouched
    assert osp.exists(path + '.part')  # the unfinished write, beside it
    backend.put_text('epoch_1.pth', str(tmp_path / 'marker'))
    assert (tmp_path / 'marker').read_text() == 'epoch_1.pth'


def test_a_failed_write_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    path = str(tmp_path / 'epoch_1.pth')
    atomic_write(path, b'old')

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, 'fsync', disk_full)
    with pytest.raises(CheckpointWriteError) as err:
        atomic_write(path, b'new checkpoint')
    assert str(err.value) == (f'Could not write {path}: No space left on device (14 bytes); '
                              f'the file on disk, if any, is unchanged')
    assert open(path, 'rb').read() == b'old' and os.listdir(tmp_path) == ['epoch_1.pth']


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs) if isinstance(inputs, list) else inputs)
        return {'loss': out.pow(2).mean()} if mode == 'loss' else [out]


@pytest.fixture(autouse=True)
def keep_default_scope():
    """A Runner makes its scope ('mmengine' here) the default: give the others theirs back."""
    from mmengine.registry import DefaultScope
    before = set(DefaultScope._instance_dict)
    yield
    for name in set(DefaultScope._instance_dict) - before:
        DefaultScope._instance_dict.pop(name)


def toy_runner(work_dir, **checkpoint):
    """Three epochs of a toy model; the validation score makes epochs 1 and 3 the best."""
    from mmengine.evaluator import BaseMetric

    class EpochMetric(BaseMetric):
        calls = 0

        def process(self, data_batch, data_samples):
            self.results.append(0)

        def compute_metrics(self, results):
            EpochMetric.calls += 1
            return {'score': [1.0, 0.5, 2.0][min(EpochMetric.calls, 3) - 1]}

    data = [dict(inputs=torch.randn(2)) for _ in range(4)]
    loader = dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                  batch_size=2, collate_fn=dict(type='pseudo_collate'))
    return Runner(
        model=ToyModel(), work_dir=str(work_dir), train_dataloader=loader, val_dataloader=loader,
        val_evaluator=[EpochMetric()],
        train_cfg=dict(by_epoch=True, max_epochs=3, val_interval=1), val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook', interval=1,
                                           **checkpoint)),
        default_scope='mmengine', experiment_name=str(work_dir))  # its own message hub


@pytest.mark.parametrize('failing, kept', [
    ('epoch_3.pth', ['best_score_epoch_1.pth', 'epoch_2.pth']),
    ('best_score_epoch_3.pth', ['best_score_epoch_1.pth', 'epoch_3.pth']),
])
def test_rotation_removes_old_checkpoints_only_after_the_new_one_is_written(
        failing, kept, tmp_path, monkeypatch):
    import mmevit.checkpoint.saving as saving
    write = saving.atomic_write

    def disk_full_at(path, data, encoding='utf-8'):
        if osp.basename(path) == failing:
            raise CheckpointWriteError(f'Could not write {path}: No space left on device')
        write(path, data, encoding)
    monkeypatch.setattr(saving, 'atomic_write', disk_full_at)
    runner = toy_runner(tmp_path, max_keep_ckpts=1, save_best='score', rule='greater')
    with pytest.raises(CheckpointWriteError):
        runner.train()
    # mmengine's hook removes epoch_2.pth / the previous best before writing the new one
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth')) == kept
    for name in kept:
        safe_torch_load(str(tmp_path / name))


def test_rotation_still_rotates(tmp_path):
    toy_runner(tmp_path, max_keep_ckpts=1, save_best='score', rule='greater').train()
    files = sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth'))
    assert files == ['best_score_epoch_3.pth', 'epoch_3.pth']
