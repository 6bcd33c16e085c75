"""EfficientViT-L1/L2 against the authors' implementation (tests/data/efficientvit_l*.pt): every
stage end to end, relative error < 1e-4, through the loader users call. The reference cannot
tell BatchNorm eps 1e-7 from 1e-5 (1.6e-5 apart at most), so the eps and the activation are
checked on the modules themselves."""
import copy

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import (assert_matches_reference, deterministic_checkpoint, load_reference,
                      pretrained_backbone)
from mmevit.deploy import fast_path
from mmevit.models import EfficientViTL
from mmevit.models.backbones.efficientvit_mit import LiteMLA
from mmevit.models.converters import convert_official_mit_keys

ARCHS = ['l1', 'l2']


def build_pretrained(arch, checkpoint, **kwargs):
    return pretrained_backbone(arch, checkpoint, scope='mmseg', type='EfficientViTL', **kwargs)


@pytest.mark.parametrize('arch', ARCHS)
def test_official_checkpoint_matches_reference(arch, official_checkpoint):
    ref = load_reference(f'efficientvit_{arch}')
    model = build_pretrained(arch, official_checkpoint(f'efficientvit_{arch}'))
    assert sum(p.numel() for p in model.parameters()) == ref['params_backbone']
    assert_matches_reference(model, ref)


@pytest.mark.parametrize('arch', ARCHS)
def test_timm_checkpoint_matches_reference(arch, official_checkpoint, tmp_path):
    official = torch.load(official_checkpoint(f'efficientvit_{arch}'), weights_only=True)
    timm_sd = convert_official_mit_keys(
        {k[len('backbone.'):]: v for k, v in official['state_dict'].items()
         if k.startswith('backbone.')})
    # timm's names (EfficientVitLarge), written out here so the test does not only trust
    # the converter
    for key in ('stem.in_conv.conv.weight', 'stem.res0.main.conv1.conv.weight',
                'stages.0.blocks.0.main.spatial_conv.conv.weight',
                'stages.1.blocks.1.main.point_conv.norm.running_var',
                'stages.2.blocks.1.main.inverted_conv.conv.bias',
                'stages.3.blocks.0.main.depth_conv.conv.weight',
                'stages.3.blocks.1.context_module.main.qkv.conv.weight',
                'stages.3.blocks.1.local_module.main.point_conv.norm.weight'):
        assert key in timm_sd, key
    timm_sd['head.classifier.4.weight'] = torch.zeros(1000, 3200)  # timm's classifier: dropped
    path = str(tmp_path / 'timm.pth')
    torch.save(timm_sd, path)
    assert_matches_reference(build_pretrained(arch, path), load_reference(f'efficientvit_{arch}'))


@pytest.mark.parametrize('arch', ARCHS)
def test_fast_path_matches_reference(arch, official_checkpoint):
    model = build_pretrained(arch, official_checkpoint(f'efficientvit_{arch}'))
    fast = fast_path(copy.deepcopy(model))
    assert not any(isinstance(m, _BatchNorm) for m in fast.modules())
    assert_matches_reference(fast, load_reference(f'efficientvit_{arch}'))


@pytest.mark.parametrize('arch', ARCHS)
def test_with_cp_in_training_mode_matches_reference(arch, official_checkpoint, monkeypatch):
    import torch.utils.checkpoint as cp
    calls = []
    checkpoint = cp.checkpoint
    monkeypatch.setattr(cp, 'checkpoint', lambda *a, **k: calls.append(1) or checkpoint(*a, **k))
    model = build_pretrained(arch, official_checkpoint(f'efficientvit_{arch}'), with_cp=True,
                             norm_eval=True).train()
    ref = load_reference(f'efficientvit_{arch}')
    assert_matches_reference(model, ref, requires_grad=True)
    blocks = sum(len(stage.blocks) for stage in model.stages)
    assert len(calls) == blocks * len(ref['outputs'])


@pytest.mark.parametrize('arch', ARCHS)
def test_norm_eps_and_activation_are_the_authors(arch):
    model = EfficientViTL(arch)
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(m.eps == 1e-7 for m in norms)
    gelus = [m for m in model.modules() if isinstance(m, nn.GELU)]
    assert gelus and all(m.approximate == 'tanh' for m in gelus)
    assert not any(isinstance(m, (nn.Hardswish, nn.ReLU6)) for m in model.modules())
    attentions = [m for m in model.modules() if isinstance(m, LiteMLA)]
    assert len(attentions) == EfficientViTL.arch_settings[arch]['depths'][4]  # stage 4 only
    assert all(m is model.stages[3] or not any(isinstance(a, LiteMLA) for a in m.modules())
               for m in model.stages)
    assert all(isinstance(a.kernel_func, nn.ReLU) and a.head_dim == 32 for a in attentions)


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='l3'), "Unknown EfficientViT-L arch 'l3'; expected one of ['l1', 'l2']"),
    (dict(arch=dict(widths=(32, 64, 128, 256, 500), depths=(1, 1, 1, 1, 1), head_dim=32)),
     "The attention stages' widths (500,) must be multiples of head_dim=32"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError) as err:
        EfficientViTL(**kwargs)
    assert message in str(err.value)


def test_checkpoint_of_another_arch_or_family_is_refused(official_checkpoint, tmp_path):
    with pytest.raises(ValueError) as err:
        build_pretrained('l1', official_checkpoint('efficientvit_l2'))
    assert 'unexpected key(s)' in str(err.value) and "'stages.0.blocks.2." in str(err.value)
    with pytest.raises(ValueError, match="shape mismatch at 'stem.in_conv.conv.weight': "
                                         r'checkpoint has \(16, 3, 3, 3\)'):
        build_pretrained('l1', official_checkpoint('efficientvit_b1'))


def test_authors_segmentation_checkpoint_feeds_the_backbone(tmp_path):
    ref = load_reference('efficientvit_seg_l1_cityscapes')
    path = str(tmp_path / 'seg.pt')
    torch.save({'state_dict': deterministic_checkpoint(ref)}, path)
    model = build_pretrained('l1', path)
    expected = deterministic_checkpoint(ref)['backbone.stages.0.op_list.0.conv.weight']
    assert torch.equal(model.stem.in_conv.conv.weight, expected)
