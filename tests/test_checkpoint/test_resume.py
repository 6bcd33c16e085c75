"""The resume choice and checkpoint text (mmevit/checkpoint/resume.py): the newest checkpoint
that loads by its number, ``last_checkpoint`` a hint only, any failure a skip with its reason;
config text read as data, never run."""
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

import mmevit.checkpoint.resume as resume
from mmevit.checkpoint import (CheckpointError, find_resumable_checkpoint,
                               neutralize_config_texts, require_training_checkpoint)
from mmevit.checkpoint.resume import config_text_as_data


def training_checkpoint(path, epoch, **meta):
    save_checkpoint({'state_dict': {'w': torch.full((2, ), float(epoch))},
                     'message_hub': {'log_scalars': {'loss': HistoryBuffer([1.0], [1])}},
                     'meta': {'epoch': epoch, 'iter': 10 * epoch, 'seed': np.int64(0), **meta}},
                    str(path))
    return str(path)


def test_newest_loadable_checkpoint_wins_whatever_last_checkpoint_says(tmp_path):
    assert find_resumable_checkpoint(str(tmp_path / 'absent')) == (None, [])
    first = training_checkpoint(tmp_path / 'epoch_1.pth', 1)
    second = training_checkpoint(tmp_path / 'epoch_2.pth', 2)
    tenth = training_checkpoint(tmp_path / 'epoch_10.pth', 10)  # numbers, not text, order
    # killed after epoch_10.pth was renamed into place, before last_checkpoint was rewritten
    (tmp_path / 'last_checkpoint').write_text(second)
    assert find_resumable_checkpoint(str(tmp_path)) == (tenth, [])
    # the newest truncated: skipped with its reason
    with open(tenth, 'r+b') as f:
        f.truncate(100)
    path, skipped = find_resumable_checkpoint(str(tmp_path))
    assert path == second and [p for p, _ in skipped] == [tenth]
    assert skipped[0][1].startswith(f'Truncated or corrupt checkpoint {tenth} (100 bytes)')
    # last_checkpoint emptied, garbled by a crash, or naming a file that is gone: a hint only
    for hint in (b'', b'\xff\xfe\x00garbage', str(tmp_path / 'epoch_7.pth').encode()):
        (tmp_path / 'last_checkpoint').write_bytes(hint)
        assert find_resumable_checkpoint(str(tmp_path))[0] == second
    os.remove(second)
    assert find_resumable_checkpoint(str(tmp_path))[0] == first


def test_last_checkpoint_finds_checkpoints_kept_elsewhere(tmp_path):
    # CheckpointHook(out_dir=...) keeps them outside the work dir; last_checkpoint names them
    (tmp_path / 'work').mkdir()
    (tmp_path / 'elsewhere').mkdir()
    training_checkpoint(tmp_path / 'elsewhere' / 'epoch_1.pth', 1)
    newest = training_checkpoint(tmp_path / 'elsewhere' / 'epoch_2.pth', 2)
    (tmp_path / 'work' / 'last_checkpoint').write_text(
        str(tmp_path / 'elsewhere' / 'epoch_1.pth'))
    assert find_resumable_checkpoint(str(tmp_path / 'work'))[0] == newest


def test_any_failure_of_a_candidate_skips_it(tmp_path, monkeypatch):
    first = training_checkpoint(tmp_path / 'epoch_1.pth', 1)
    second = training_checkpoint(tmp_path / 'epoch_2.pth', 2)
    load = resume.safe_torch_load

    def flaky(path, map_location=None):
        if path == second:
            raise KeyError('something no one foresaw')
        return load(path, map_location)
    monkeypatch.setattr(resume, 'safe_torch_load', flaky)
    path, skipped = find_resumable_checkpoint(str(tmp_path))
    assert path == first and skipped == [(second, "'something no one foresaw'")]


def test_weights_only_files_are_not_training_checkpoints(tmp_path):
    from safetensors.torch import save_file
    path = str(tmp_path / 'epoch_3.safetensors')
    save_file({'w': torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match='is not a training checkpoint .* load_from'):
        require_training_checkpoint(_load_checkpoint(path), path)


PAYLOAD = "import os\nos.system('touch {marker}')\n"


def test_config_text_is_read_as_data(tmp_path):
    plain = Config(dict(model=dict(type='RetinaNet', backbone=dict(arch='m4')), lr=-1e-4,
                        gpu_ids=[0, 1], custom_imports=dict(imports=['mmevit']),
                        scales=[(1333, 800)])).pretty_text
    text, dropped = config_text_as_data(plain)
    cfg = Config.fromstring(text, '.py')
    assert cfg.model.backbone.arch == 'm4' and cfg.gpu_ids == [0, 1] and cfg.lr == -1e-4
    assert dropped == ['custom_imports'] and 'custom_imports' not in cfg
    for code in ("import os", "x = __import__('os').system('true')", "x = open('/etc/passwd')",
                 "x = [i for i in range(3)]", "x = dict(**y)", "x.y = 1",
                 "_base_ = ['/elsewhere/config.py']\nx = f'{1}'"):
        with pytest.raises(ValueError, match='not (plain data|an assignment)'):
            config_text_as_data(code)


def test_checkpoint_config_text_never_runs(tmp_path):
    marker = tmp_path / 'executed'
    path = training_checkpoint(tmp_path / 'epoch_1.pth', 1,
                               config=PAYLOAD.format(marker=marker), cfg="gpu_ids = [0]\n")
    checkpoint = _load_checkpoint(path)  # mmengine's loader, as mmevit.runtime sets it
    assert 'config' not in checkpoint['meta'] and checkpoint['meta']['cfg'] == 'gpu_ids = [0]\n'
    # what Runner.resume and the inferencers do with it
    for text in (checkpoint['meta'].get('config'), checkpoint['meta']['cfg']):
        if text is not None:
            Config.fromstring(text, '.py')
    assert not marker.exists()
    assert neutralize_config_texts({'meta': {'config': 42}}, 'x') == {'meta': {}}
