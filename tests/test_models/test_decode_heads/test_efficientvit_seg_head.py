"""The authors' whole segmentation models (tests/data/efficientvit_seg_*.pt), converted into
an mmseg EncoderDecoder with EfficientViTB/L and EfficientViTSegHead, reproduce their logits,
also on the fast path; exported, its logits follow the input's size."""
import copy

import pytest
import torch

from conftest import (config_model, deterministic_checkpoint, image, load_reference,
                      reference_input, relative_error)
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


def test_onnx_export_resizes_to_each_inputs_size(tmp_path):
    """Exported with the argmax in the graph (mmdeploy's traced ``img_shape``), the head
    resizes its logits to each input's size, as PyTorch resizes them to an image of that size;
    the export image's size is not fixed in the graph."""
    import onnxruntime
    model = config_model('demo/efficientvit_seg_b1_shapes.py').eval()
    head = model.decode_head

    class Predict(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            metas = [dict(img_shape=x.shape[2:], ori_shape=(128, 160))]  # ori_shape: ignored
            return head.predict_by_feat(head(self.model.extract_feat(x)), metas)

    path = str(tmp_path / 'head.onnx')
    with torch.no_grad():
        torch.onnx.export(Predict().eval(), (image(128, 160), ), path, dynamo=False,
                          opset_version=11, input_names=['input'],
                          dynamic_axes={'input': {2: 'h', 3: 'w'}})
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    for size in ((96, 96), (160, 224)):
        x = image(*size, seed=1)
        with torch.no_grad():
            expected = head.predict_by_feat(head(model.extract_feat(x)),
                                            [dict(img_shape=size, ori_shape=size)])
        logits = torch.from_numpy(session.run(None, {'input': x.numpy()})[0])
        assert logits.shape[-2:] == size
        assert relative_error(logits, expected) < 1e-4
