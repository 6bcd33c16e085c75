import os.path as osp
import sys

import pytest
import torch

sys.path.insert(0, osp.dirname(__file__))
import mmevit  # noqa: E402,F401  (registers models; installs the safe checkpoint loader)
from reference import deterministic_checkpoint, load_reference  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def official_checkpoint(tmp_path_factory):
    """Path of a checkpoint in the authors' format holding a reference file's weights."""
    cache = {}
    folder = tmp_path_factory.mktemp('official')

    def make(name):
        if name not in cache:
            ref = load_reference(name)
            path = str(folder / f'{name}.pth')
            container = 'model' if ref['family'] == 'msra' else 'state_dict'
            torch.save({container: deterministic_checkpoint(ref)}, path)
            cache[name] = path
        return cache[name]

    return make
