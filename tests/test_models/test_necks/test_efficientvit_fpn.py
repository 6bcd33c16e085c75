"""EfficientViTFPN against the authors' neck (tests/data/cream_neck_m4.pt: microsoft/Cream's
EfficientViTFPN run on deterministic weights in their key names), its initialisation, and
against mmdet's FPN, whose forward it re-implements."""
import re

import pytest
import torch
from mmdet.models.necks import FPN

from conftest import deterministic_tensor, load_reference, relative_error
from mmevit.models import EfficientViTFPN

NECKS = load_reference('cream_neck_m4')


def authors_neck_weights(kind):
    return {key: deterministic_tensor(key, shape)
            for key, shape, _ in NECKS[kind]['checkpoint_keys']}


def reference_levels(kind):
    """(inputs, expected outputs) of every reference image: the M4 backbone's three maps."""
    for i, (name, shapes) in enumerate(NECKS[kind]['input_shapes'].items()):
        inputs = [torch.randn(shape, generator=torch.Generator().manual_seed(1000 * i + k))
                  for k, shape in enumerate(shapes)]
        yield name, inputs, NECKS[kind]['outputs'][name]


def max_level_error(neck, kind):
    errors = []
    with torch.no_grad():
        for _, inputs, expected in reference_levels(kind):
            outs = neck(inputs)
            assert [o.shape for o in outs] == [e.shape for e in expected]
            errors += [relative_error(o, e) for o, e in zip(outs, expected)]
    return max(errors)


@pytest.mark.parametrize('kind', ['retinanet', 'mask_rcnn'])
def test_authors_neck_weights_reproduce_every_level(kind):
    neck = EfficientViTFPN(**NECKS[kind]['kwargs']).eval()
    neck.load_state_dict(authors_neck_weights(kind), strict=True)  # the authors' names
    # float rounding only (measured: at most 8.3e-7, the same as a float64 run of this neck)
    assert max_level_error(neck, kind) < 1e-6


def test_index_preserving_rename_is_wrong_for_two_transposed_convs():
    # the authors apply extra_fpn_convs[i] to the output of extra_trans_convs[n-1-i]; pairing
    # equal indices instead gives other stride-4/8 maps, which the reference check catches
    neck = EfficientViTFPN(**NECKS['mask_rcnn']['kwargs']).eval()
    plain = {re.sub(r'^extra_trans_convs\.(\d)\.conv\.', r'trans_convs.\1.', k)
             .replace('extra_fpn_convs.', 'trans_fpn_convs.'): v
             for k, v in authors_neck_weights('mask_rcnn').items()}
    neck.load_state_dict(plain, strict=True)
    assert max_level_error(neck, 'mask_rcnn') > 0.1


def test_refuses_authors_weights_with_another_number_of_transposed_convs():
    neck = EfficientViTFPN(**NECKS['retinanet']['kwargs'])
    with pytest.raises(ValueError, match=r'2 transposed conv\(s\).*the model 1'):
        neck.load_state_dict(authors_neck_weights('mask_rcnn'))


@pytest.mark.parametrize('num_trans_convs', [1, 2])
def test_init_weights_as_the_authors(num_trans_convs):
    # transposed convs: kaiming normal (fan_out = 256 * 2 * 2, relu): std sqrt(2 / 1024)
    torch.manual_seed(0)
    neck = EfficientViTFPN([128, 256, 384], 256, 5, num_extra_trans_convs=num_trans_convs)
    neck.init_weights()
    for conv in neck.trans_convs:
        assert abs(conv.weight.std().item() - (2 / 1024) ** 0.5) < 0.002
        assert not conv.bias.any()
    for module in neck.modules():  # the other convs: xavier uniform, zero bias
        if isinstance(module, torch.nn.Conv2d):
            fan_in = module.weight[0].numel()
            fan_out = module.weight.shape[0] * module.weight[0, 0].numel()
            bound = (6 / (fan_in + fan_out)) ** 0.5
            assert module.weight.abs().max() <= bound and module.weight.abs().max() > 0.9 * bound
            assert not module.bias.any()


@pytest.mark.parametrize('add_extra_convs', [False, 'on_input', 'on_output'])
def test_without_transposed_convs_it_is_mmdets_fpn(add_extra_convs):
    kwargs = dict(in_channels=[32, 64, 96], out_channels=48, num_outs=5,
                  add_extra_convs=add_extra_convs)
    torch.manual_seed(0)
    ours = EfficientViTFPN(num_extra_trans_convs=0, **kwargs).eval()
    ours.init_weights()
    mmdet_fpn = FPN(**kwargs).eval()
    mmdet_fpn.load_state_dict(ours.state_dict(), strict=True)
    inputs = [torch.randn(2, c, 28 // 2 ** i, 37 // 2 ** i) for i, c in enumerate([32, 64, 96])]
    with torch.no_grad():
        for a, b in zip(ours(inputs), mmdet_fpn(inputs), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize('num_trans_convs, strides', [(1, [8, 16, 32]), (2, [4, 8, 16, 32])])
def test_top_down_only_level_feeds_the_finer_levels_without_an_output(num_trans_convs,
                                                                      strides):
    # M4's stride-16/32/64 maps as the strides 8..32 (or 4..32) that RTMDet, YOLOX and
    # Mask2Former take: the same levels as the full neck's, less its stride-64 output
    kwargs = dict(in_channels=[128, 256, 384], out_channels=32,
                  num_extra_trans_convs=num_trans_convs)
    torch.manual_seed(0)
    full = EfficientViTFPN(num_outs=3 + num_trans_convs, **kwargs).eval()
    trimmed = EfficientViTFPN(num_outs=2 + num_trans_convs, num_top_down_only_levels=1,
                              **kwargs).eval()
    state = full.state_dict()
    del state['fpn_convs.2.conv.weight'], state['fpn_convs.2.conv.bias']
    trimmed.load_state_dict(state, strict=True)
    inputs = [torch.randn(1, c, 64 // s, 80 // s) for c, s in zip([128, 256, 384], [16, 32, 64])]
    outs = trimmed(inputs)
    assert [o.shape[2:] for o in outs] == [(64 // s, 80 // s) for s in strides]
    with torch.no_grad():
        for a, b in zip(outs, full(inputs)[:len(strides)], strict=True):
            assert torch.equal(a, b)
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None and p.grad.any() for p in trimmed.parameters())


@pytest.mark.parametrize('kwargs', [dict(num_outs=4, add_extra_convs='on_input'),
                                    dict(num_outs=4, end_level=1), dict(num_outs=5)])
def test_top_down_only_levels_refuse_extra_levels(kwargs):
    with pytest.raises(ValueError, match='num_top_down_only_levels=1'):
        EfficientViTFPN([128, 256, 384], 32, num_extra_trans_convs=1,
                        num_top_down_only_levels=1, **kwargs)
