"""EfficientViT-B0..B3 and the segmentation head against the authors' implementation
(tests/data/efficientvit_b*.pt, efficientvit_seg_*.pt). Linear attention is well conditioned,
so every output is compared end to end with the 1e-4 bound."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS as SEG_MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import REPO_ROOT, build_in_scope
from mmevit.models.backbones.efficientvit_b import (EfficientViTB, LiteMLA,
                                                    convert_official_mit_keys)
from mmevit.models.decode_heads.efficientvit_seg_head import convert_official_seg_keys
from reference import deterministic_checkpoint, load_reference, reference_input, relative_error

ARCHS = ['b0', 'b1', 'b2', 'b3']
TOL = 1e-4


def build_pretrained(arch, checkpoint, **kwargs):
    model = SEG_MODELS.build(dict(type='EfficientViTB', arch=arch,
                                  init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
                                  **kwargs))
    model.init_weights()
    return model.eval()


def assert_matches_reference(model, ref):
    for name, outs in ref['outputs'].items():
        with torch.no_grad():
            ys = model(reference_input(name))
        assert len(ys) == len(outs) == 4
        for i, (y, expected) in enumerate(zip(ys, outs)):
            err = relative_error(y, expected)
            assert err < TOL, f'{ref["arch"]} {name} stage{i + 1}: {err:.2e}'


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


@pytest.mark.parametrize('name, config', [
    ('efficientvit_seg_b0_cityscapes', 'efficientvit_seg_b0_cityscapes.py'),
    ('efficientvit_seg_b1_ade20k', 'efficientvit_seg_b1_ade20k.py'),
])
def test_official_segmentation_model_reproduces_logits(name, config, tmp_path):
    ref = load_reference(name)
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    cfg.model.backbone.init_cfg = None
    model = revert_sync_batchnorm(build_in_scope(cfg.model, 'mmseg')).eval()
    model.load_state_dict(convert_official_seg_keys(deterministic_checkpoint(ref)), strict=True)
    assert sum(p.numel() for p in model.parameters()) == ref['params']
    for input_name, (expected, ) in ref['outputs'].items():
        with torch.no_grad():
            logits = model.decode_head(model.extract_feat(reference_input(input_name)))
        assert relative_error(logits, expected) < TOL


def test_segmentation_checkpoint_feeds_the_backbone(official_checkpoint, tmp_path):
    # An authors' segmentation checkpoint (backbone.* + head.*) as a backbone init_cfg.
    ref = load_reference('efficientvit_seg_b0_cityscapes')
    path = str(tmp_path / 'seg.pt')
    torch.save({'state_dict': deterministic_checkpoint(ref)}, path)
    model = build_pretrained('b0', path)
    expected = deterministic_checkpoint(ref)['backbone.input_stem.op_list.0.conv.weight']
    assert torch.equal(model.stem.in_conv.conv.weight, expected)


@pytest.mark.parametrize('arch', ARCHS)
def test_fused_model_equals_unfused(arch, official_checkpoint):
    model = build_pretrained(arch, official_checkpoint(f'efficientvit_{arch}'))
    fused = copy.deepcopy(model).switch_to_deploy()
    assert not any(isinstance(m, _BatchNorm) for m in fused.modules())
    assert_matches_reference(fused, load_reference(f'efficientvit_{arch}'))


def test_with_cp_training_matches_and_backpropagates(official_checkpoint):
    path = official_checkpoint('efficientvit_b1')
    plain = build_pretrained('b1', path).train()
    ckpt = build_pretrained('b1', path, with_cp=True).train()
    x = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    outs_plain, outs_cp = plain(x), ckpt(x)
    for a, b in zip(outs_plain, outs_cp):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)
    sum(o.pow(2).mean() for o in outs_plain).backward()
    sum(o.pow(2).mean() for o in outs_cp).backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        assert q.grad is not None, f'no gradient reached {name} under with_cp'
        assert torch.allclose(p.grad, q.grad, rtol=1e-3, atol=1e-6), name


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


@pytest.mark.parametrize('size', [(97, 203), (32, 32), (1, 1), (7, 400)])
def test_any_input_size(size):
    model = EfficientViTB('b0').eval()
    h, w = size
    with torch.no_grad():
        outs = model(torch.randn(1, 3, h, w))
    for i, out in enumerate(outs):
        side = lambda n: -(-n // (4 * 2 ** i))  # noqa: E731
        assert out.shape == (1, model.widths[i + 1], side(h), side(w))
        assert torch.isfinite(out).all()


def test_frozen_stages_and_norm_eval():
    model = EfficientViTB('b0', frozen_stages=2, norm_eval=True).train()
    for module in (model.stem, model.stages[0], model.stages[1]):
        assert not module.training and not any(p.requires_grad for p in module.parameters())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))


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
