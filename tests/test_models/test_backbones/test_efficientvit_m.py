"""What is particular to EfficientViT-M: its arguments and custom archs, its windows, the errors
for checkpoints of other archs, detector and mmevit checkpoints. The reference checks of every
arch are in test_reference_outputs.py."""
import pytest
import torch

from conftest import pretrained_backbone
from mmevit.models import EfficientViTM


def build_pretrained(arch, checkpoint, **kwargs):
    return pretrained_backbone(arch, checkpoint, scope='mmdet', type='EfficientViTM', **kwargs)


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='m9'), "Unknown EfficientViT-M arch 'm9'; expected one of ['m0', 'm1', 'm2', "
                      "'m3', 'm4', 'm5']"),
    (dict(out_indices=(0, 3)), 'out_indices must be non-empty and within [0, 2], got (0, 3)'),
    (dict(frozen_stages=5), 'frozen_stages must be within [-1, 3], got 5'),
    (dict(window_size=(7, 7)), 'window_size must be a positive int or 3 positive ints'),
    (dict(arch=dict(embed_dims=(64, 128), depths=(1, 2), num_heads=(4, 4))),
     "Custom arch dict lacks ['kernels']"),
    (dict(arch=dict(embed_dims=(64, 120), depths=(1, 2), num_heads=(4, 7), kernels=(5,) * 7)),
     'Each embed dim must be divisible by 8 and by its number of heads'),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError) as err:
        EfficientViTM(**kwargs)
    assert message in str(err.value)


def test_custom_arch_dict():
    arch = dict(embed_dims=(32, 64), depths=(1, 1), num_heads=(2, 2), kernels=(3, 3))
    outs = EfficientViTM(arch, out_indices=(0, 1)).eval()(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 64]


def test_checkpoint_of_another_arch_names_key_and_shapes(official_checkpoint):
    with pytest.raises(ValueError) as err:
        build_pretrained('m4', official_checkpoint('efficientvit_m0'))
    assert ("shape mismatch at 'patch_embed.conv1.conv.weight': checkpoint has (8, 3, 3, 3), "
            'EfficientViTM expects (16, 3, 3, 3)') in str(err.value)
    assert 'efficientvit_m0' in str(err.value)


def test_depth_mismatch_lists_missing_and_unexpected_keys(official_checkpoint):
    # m5 has one block more per stage than m4 in stages 2-3 and different widths: use a
    # custom arch with m4's widths and fewer blocks instead, so only depths differ.
    arch = dict(EfficientViTM.arch_settings['m4'], depths=(1, 1, 3))
    with pytest.raises(ValueError) as err:
        build_pretrained(arch, official_checkpoint('efficientvit_m4'))
    assert 'unexpected key(s)' in str(err.value) and 'stages.1.blocks.1.' in str(err.value)


def test_detector_and_own_checkpoints_load(official_checkpoint, tmp_path):
    model = build_pretrained('m4', official_checkpoint('efficientvit_m4'))
    detector_ckpt = {'state_dict': {**{f'backbone.{k}': v for k, v in model.state_dict().items()},
                                    'neck.lateral_convs.0.conv.weight': torch.zeros(1)},
                     'meta': {'epoch': 12}}
    own_ckpt = {'state_dict': model.state_dict()}
    x = torch.randn(1, 3, 64, 96)
    expected = model(x)
    for i, ckpt in enumerate([detector_ckpt, own_ckpt]):
        path = str(tmp_path / f'{i}.pth')
        torch.save(ckpt, path)
        with torch.no_grad():
            for a, b in zip(build_pretrained('m4', path)(x), expected):
                assert torch.equal(a, b)


def test_missing_pretrained_file_names_path():
    model = EfficientViTM('m4', init_cfg=dict(type='Pretrained', checkpoint='nowhere/m4.pth'))
    with pytest.raises(FileNotFoundError, match='nowhere/m4.pth'):
        model.init_weights()


def test_imagenet_window_sizes():
    # the authors' classifier: min(7, side) of the stride-16/32/64 maps
    assert EfficientViTM.imagenet_window_sizes(224) == [7, 7, 4]
    assert EfficientViTM.imagenet_window_sizes(512) == [7, 7, 7]
    assert EfficientViTM.imagenet_window_sizes(64) == [4, 2, 1]
