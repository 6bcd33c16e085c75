"""The authors' whole segmentation models (tests/data/efficientvit_seg_*.pt), converted into
an mmseg EncoderDecoder with EfficientViTB/L and EfficientViTSegHead, reproduce their logits,
also on the fast path."""
import copy

import pytest
import torch

from conftest import (config_model, deterministic_checkpoint, load_reference, reference_input,
                      relative_error)
from mmevit.deploy import fast_path
from mmevit.models.converters import convert_official_seg_keys


@pytest.mark.parametrize('name, config', [
    ('efficientvit_seg_b0_cityscapes', 'efficientvit_seg_b0_cityscapes.py'),
    ('efficientvit_seg_b1_ade20k', 'efficientvit_seg_b1_ade20k.py'),
    ('efficientvit_seg_l1_cityscapes', 'efficientvit_seg_l1_cityscapes.py'),
    ('efficientvit_seg_l2_ade20k', 'efficientvit_seg_l2_ade20k.py'),
])
def test_official_segmentation_model_reproduces_logits(name, config):
    ref = load_reference(name)
    model = config_model(config)
    model.load_state_dict(convert_official_seg_keys(deterministic_checkpoint(ref)), strict=True)
    assert sum(p.numel() for p in model.parameters()) == ref['params']
    for input_name, (expected, ) in ref['outputs'].items():
        with torch.no_grad():
            logits = model.decode_head(model.extract_feat(reference_input(input_name)))
        assert relative_error(logits, expected) < 1e-4
        fast = fast_path(copy.deepcopy(model))
        with torch.no_grad():
            logits = fast.decode_head(fast.extract_feat(reference_input(input_name)))
        assert relative_error(logits, expected) < 1e-4
