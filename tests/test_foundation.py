"""Registries of both scopes, detectors and segmentors built from the project's configs,
and checkpoint safety under torch's weights_only unpickler."""
import os
import os.path as osp
import pickle

import pytest
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.runner.checkpoint import _load_checkpoint
from mmseg.registry import MODELS as SEG_MODELS
from mmseg.structures import SegDataSample
from mmengine.structures import PixelData

from conftest import REPO_ROOT, build_in_scope

MMEVIT_MODELS = ['EfficientViT', 'EfficientViTB', 'EfficientViTFPN', 'EfficientViTSegHead']


@pytest.mark.parametrize('name', MMEVIT_MODELS)
def test_both_scopes_resolve_the_same_class(name):
    det_cls, seg_cls = DET_MODELS.get(name), SEG_MODELS.get(name)
    assert det_cls is not None and det_cls is seg_cls
    assert DET_MODELS.get(f'mmdet.{name}') is SEG_MODELS.get(f'mmseg.{name}') is det_cls


def _config(name):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', name))
    cfg.model.backbone.init_cfg = None  # no ImageNet checkpoint in tests
    return cfg


def _loss_step(model, data):
    model.train()
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads), 'loss did not reach the backbone'
    return losses


@pytest.mark.parametrize('config, with_mask', [('retinanet_evit_m4_1x.py', False),
                                               ('mask_rcnn_evit_m4_1x.py', True)])
def test_detector_from_config_loss_and_predict(config, with_mask):
    cfg = _config(config)
    assert cfg.default_scope == 'mmdet'
    model = build_in_scope(cfg.model, cfg.default_scope)
    model.init_weights()
    data = demo_mm_inputs(batch_size=2, image_shapes=[(3, 160, 224), (3, 128, 192)],
                          num_classes=80, with_mask=with_mask)
    losses = _loss_step(model, data)
    assert 'loss_cls' in losses or 'loss_rpn_cls' in losses
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(data, False), mode='predict')
    assert len(results) == 2 and 'bboxes' in results[0].pred_instances
    if with_mask:
        assert 'masks' in results[0].pred_instances


def test_segmentor_from_config_loss_and_predict():
    cfg = _config('fpn_evit_m4_ade20k_40k.py')
    assert cfg.default_scope == 'mmseg'
    model = revert_sync_batchnorm(build_in_scope(cfg.model, cfg.default_scope))
    model.init_weights()
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(128, 160), ori_shape=(128, 160),
                                             pad_shape=(128, 160)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 128, 160), generator=g))
        samples.append(sample)
    data = dict(inputs=[torch.randint(0, 255, (3, 128, 160), generator=g, dtype=torch.uint8)
                        for _ in range(2)], data_samples=samples)
    cfg_size = model.data_preprocessor.size
    model.data_preprocessor.size = (128, 160)  # the config pads to its 512x512 crop
    _loss_step(model, data)
    model.data_preprocessor.size = cfg_size
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(data, False), mode='predict')
    assert results[0].pred_sem_seg.data.shape == (1, 128, 160)


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
