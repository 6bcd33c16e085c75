"""What is particular to EfficientViT-B: parameters beside the paper's, the linear attention
(float32 under autocast, its quadratic form), the errors. The reference checks of every arch
are in test_reference_outputs.py."""
import pytest
import torch

from conftest import pretrained_backbone, relative_error
from mmevit.models import EfficientViTB
from mmevit.models.backbones.efficientvit_mit import LiteMLA


def build_pretrained(arch, checkpoint, **kwargs):
    return pretrained_backbone(arch, checkpoint, scope='mmseg', type='EfficientViTB', **kwargs)


@pytest.mark.parametrize('arch, paper', [('b0', 0.68), ('b1', 4.64), ('b2', 14.98),
                                         ('b3', 39.00)])
def test_backbone_params_match_paper(arch, paper):
    assert round(sum(p.numel() for p in EfficientViTB(arch).parameters()) / 1e6, 2) == paper


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
