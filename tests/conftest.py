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


def build_in_scope(model_cfg, scope):
    """Build a model config the way a Runner with ``default_scope=scope`` would."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmdet.utils import register_all_modules as register_det
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS as SEG_MODELS
    from mmseg.utils import register_all_modules as register_seg

    register_det(init_default_scope=False)
    register_seg(init_default_scope=False)
    registry = {'mmdet': DET_MODELS, 'mmseg': SEG_MODELS}[scope]
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(model_cfg)
