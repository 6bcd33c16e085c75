"""What is particular to EfficientViT-L: the authors' BatchNorm eps and tanh GELU, which the
reference outputs cannot pin (eps 1e-5 instead of 1e-7 moves them by 1.6e-5 at most), where
the attention sits, the errors. The reference checks of every arch are in
test_reference_outputs.py."""
import pytest
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import pretrained_backbone
from mmevit.models import EfficientViTL
from mmevit.models.backbones.efficientvit_mit import LiteMLA

ARCHS = ['l1', 'l2']


def build_pretrained(arch, checkpoint, **kwargs):
    return pretrained_backbone(arch, checkpoint, scope='mmseg', type='EfficientViTL', **kwargs)


@pytest.mark.parametrize('arch', ARCHS)
def test_norm_and_activation_are_the_authors(arch):
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
