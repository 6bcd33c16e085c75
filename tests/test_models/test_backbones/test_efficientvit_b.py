"""EfficientViT-B0..B3 against the authors' implementation (tests/data/efficientvit_b*.pt).
Linear attention is well conditioned, so every output is compared end to end with the 1e-4
bound."""
import copy

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import (assert_matches_reference, deterministic_checkpoint, load_reference,
                      pretrained_backbone, relative_error)
from mmevit.models import EfficientViTB
from mmevit.models.backbones.efficientvit_mit import LiteMLA
from mmevit.models.converters import convert_official_mit_keys

ARCHS = ['b0', 'b1', 'b2', 'b3']


def build_pretrained(arch, checkpoint, **kwargs):
    return pretrained_backbone(arch, checkpoint, scope='mmseg', type='EfficientViTB', **kwargs)


@pytest.mark.parametrize('arch', ARCHS)
def test_official_checkpoint_matches_reference(arch, official_checkpoint):
    ref = load_reference(f'efficientvit_{arch}')
    model = build_pretrained(arch, official_checkpoint(f'efficientvit_{arch}'))
    assert sum(p.numel() for p in model.parameters()) == ref['params_backbone']
    assert_matches_reference(model, ref)


@pytest.mark.parametrize('arch, paper', [('b0', 0.68), ('b1', 4.64), ('b2', 14.98),
                                         ('b3', 39.00)])
def test_backbone_params_match_paper(arch, paper):
    assert round(sum(p.numel() for p in EfficientViTB(arch).parameters()) / 1e6, 2) == paper


def test_timm_checkpoint_loads(official_checkpoint, tmp_path):
    official = torch.load(official_checkpoint('efficientvit_b1'), weights_only=True)
    timm_sd = convert_official_mit_keys(
        {k[len('backbone.'):]: v for k, v in official['state_dict'].items()
         if k.startswith('backbone.')})
    for key in ('stem.in_conv.conv.weight', 'stem.res0.main.depth_conv.conv.weight',
                'stages.0.blocks.0.main.inverted_conv.conv.weight',
                'stages.2.blocks.1.context_module.main.aggreg.0.1.weight',
                'stages.3.blocks.4.local_module.main.point_conv.norm.running_var'):
        assert key in timm_sd, key
    timm_sd['head.classifier.4.weight'] = torch.zeros(1000, 1600)  # timm's classifier: dropped
    path = str(tmp_path / 'timm.pth')
    torch.save(timm_sd, path)
    assert_matches_reference(build_pretrained('b1', path), load_reference('efficientvit_b1'))


def test_segmentation_checkpoint_feeds_the_backbone(official_checkpoint, tmp_path):
    # An authors' segmentation checkpoint (backbone.* + head.*) as a backbone init_cfg.
    ref = load_reference('efficientvit_seg_b0_cityscapes')
    path = str(tmp_path / 'seg.pt')
    torch.save({'state_dict': deterministic_checkpoint(ref)}, path)
    model = build_pretrained('b0', path)
    expected = deterministic_checkpoint(ref)['backbone.input_stem.op_list.0.conv.weight']
    assert torch.equal(model.stem.in_conv.conv.weight, expected)


@pytest.mark.parametrize('arch', ARCHS)
def test_fast_path_matches_reference(arch, official_checkpoint):
    model = build_pretrained(arch, official_checkpoint(f'efficientvit_{arch}'))
    fused = copy.deepcopy(model).switch_to_deploy()
    assert not any(isinstance(m, _BatchNorm) for m in fused.modules())
    assert_matches_reference(fused, load_reference(f'efficientvit_{arch}'))


def test_lite_mla_stays_float32_under_bf16_autocast():
    torch.manual_seed(0)
    mla = LiteMLA(64, 64, head_dim=16).eval()
    x = torch.randn(2, 64, 24, 24) * 300  # large activations: the normaliser sums 576 pixels
    with torch.no_grad():
        reference = mla(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = mla(x)
    assert torch.isfinite(out).all()
    # bf16 convs around it cost ~1% accuracy; the attention itself must not blow up
    assert relative_error(out.float(), reference) < 0.05


def test_quadratic_and_linear_attention_agree():
    torch.manual_seed(0)
    mla = LiteMLA(32, 32, head_dim=16).eval().double()
    qkv = torch.randn(1, 192, 3, 4, dtype=torch.float64)
    assert relative_error(mla.quadratic_attention(qkv), mla.linear_attention(qkv)) < 1e-10


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='b7'), "Unknown EfficientViT-B arch 'b7'; expected one of ['b0', 'b1', 'b2', "
                      "'b3']"),
    (dict(out_indices=(4, )), 'out_indices must be non-empty and within [0, 3], got (4,)'),
    (dict(frozen_stages=-2), 'frozen_stages must be within [-1, 4], got -2'),
    (dict(arch=dict(widths=(8, 16, 32, 64), depths=(1, 2, 2, 2), head_dim=16)),
     'widths and depths need 5 entries'),
    (dict(arch=dict(widths=(8, 16, 32, 60, 128), depths=(1, 2, 2, 2, 2), head_dim=16)),
     "The attention stages' widths (60, 128) must be multiples of head_dim=16"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError) as err:
        EfficientViTB(**kwargs)
    assert message in str(err.value)


def test_checkpoint_of_other_family_is_refused(official_checkpoint):
    with pytest.raises(ValueError) as err:
        build_pretrained('b1', official_checkpoint('efficientvit_m4'))
    assert 'missing key(s)' in str(err.value) and "'stem.in_conv.conv.weight'" in str(err.value)
    with pytest.raises(ValueError, match="shape mismatch at 'stem.in_conv.conv.weight'"):
        build_pretrained('b2', official_checkpoint('efficientvit_b1'))
