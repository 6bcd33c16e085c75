"""Every mmevit model and transform resolves to the same class in mmdet's and mmseg's scopes;
Runner pieces register themselves in mmengine's root registries."""
import pytest
from mmdet.registry import MODELS as DET_MODELS
from mmengine.registry import HOOKS, OPTIM_WRAPPERS
from mmseg.registry import MODELS as SEG_MODELS

from mmevit.engine import (BF16AutocastOptimWrapper, CompileHook, FastPathHook,
                           HalfPrecisionHook)
from mmevit.models import EfficientViTM

MMEVIT_MODELS = ['EfficientViTM', 'EfficientViT', 'EfficientViTB', 'EfficientViTL',
                 'EfficientViTFPN', 'EfficientViTSegHead', 'FixedShapeDetDataPreprocessor']


@pytest.mark.parametrize('name', MMEVIT_MODELS)
def test_both_scopes_resolve_the_same_class(name):
    det_cls, seg_cls = DET_MODELS.get(name), SEG_MODELS.get(name)
    assert det_cls is not None and det_cls is seg_cls
    assert DET_MODELS.get(f'mmdet.{name}') is SEG_MODELS.get(f'mmseg.{name}') is det_cls


def test_old_m_series_name_builds_the_m_series():
    # configs written before the B-series arrived say type='EfficientViT'
    assert DET_MODELS.get('EfficientViT') is EfficientViTM
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = SEG_MODELS.build(dict(type='EfficientViT', arch='m0'))
    assert type(model) is EfficientViTM


def test_transforms_resolve_in_both_scopes():
    from mmdet.registry import TRANSFORMS as DET_TRANSFORMS
    from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS

    from mmevit.datasets import ResizeShortSide
    assert DET_TRANSFORMS.get('ResizeShortSide') is SEG_TRANSFORMS.get(
        'ResizeShortSide') is ResizeShortSide


def test_runner_pieces_are_registered():
    assert HOOKS.get('FastPathHook') is FastPathHook
    assert HOOKS.get('CompileHook') is CompileHook
    assert HOOKS.get('HalfPrecisionHook') is HalfPrecisionHook
    assert OPTIM_WRAPPERS.get('BF16AutocastOptimWrapper') is BF16AutocastOptimWrapper
