"""The compiled path (mmevit/deploy/compile.py, CompileHook, FixedShapeDetDataPreprocessor)
equals eager on the CPU, for inference and training.

Compiling takes tens of seconds per graph on this machine; torch's on-disk cache makes the
same graph cheap the second time, so the tests share model configs and batch shapes with
the tool tests (``tests/test_tools``).
"""
import copy

import pytest
import torch
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config

from conftest import REPO_ROOT, assert_same_detections, config_model
from mmevit.cli import setup_compile
from mmevit.models import build_model, fixed_batch_shapes
from mmevit.deploy import (TensorForward, accelerate, compile_model, flatten, half_precision,
                           max_relative_error)
from mmevit.models import FixedShapeDetDataPreprocessor
from mmevit.testing import detection_batch, randomize_batchnorm

# the demo RetinaNet-M4 and RetinaNet-B1 (COCO recipe) at the demo's batch of 4 x 128x160
DETECTORS = {'m4': 'demo/retinanet_evit_m4_shapes.py', 'b1': 'retinanet_evit_b1_1x.py'}


def detector(arch):
    """Random weights; the head's last convs spread widely, so that no two scores tie (NMS
    keeps whichever of two tied boxes is a hair higher: a different box, not an error)."""
    torch.manual_seed(0)
    model = randomize_batchnorm(config_model(DETECTORS[arch]))
    for conv in (model.bbox_head.retina_cls, model.bbox_head.retina_reg):
        torch.nn.init.normal_(conv.weight, std=0.1)
    return model


def relative(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def test_fixed_shape_preprocessor_pads_batches_to_the_smallest_shape():
    preprocessor = FixedShapeDetDataPreprocessor(
        batch_shapes=[(1344, 800), (800, 1344), (96, 128)], mean=[0, 0, 0], std=[1, 1, 1],
        pad_size_divisor=32, pad_value=7, pad_mask=True, mask_pad_value=0)
    assert preprocessor.batch_shapes == [(96, 128), (800, 1344), (1344, 800)]
    data = detection_batch(70, 100, batch_size=2, with_targets=True)
    for sample in data['data_samples']:  # what mmdet's loader gives: masks at image size
        sample.gt_instances.masks = BitmapMasks(
            sample.gt_instances.masks.masks[:, :70, :100], 70, 100)
    out = preprocessor(data, training=True)
    assert out['inputs'].shape == (2, 3, 96, 128)
    assert (out['inputs'][:, :, 70:] == 7).all() and (out['inputs'][:, :, :, 100:] == 7).all()
    for sample in out['data_samples']:
        assert sample.batch_input_shape == (96, 128)
        assert sample.img_shape == (70, 100)  # boxes and image size are untouched
        assert sample.gt_instances.masks.masks.shape[1:] == (96, 128)
    # a batch larger than every shape keeps mmdet's padding to the divisor
    big = preprocessor(detection_batch(1400, 900), training=False)
    assert big['inputs'].shape[-2:] == (1408, 928)
    with pytest.raises(ValueError, match='multiples of pad_size_divisor=32'):
        FixedShapeDetDataPreprocessor(batch_shapes=[(100, 128)], pad_size_divisor=32)


def test_fixed_batch_shapes_follow_the_pipelines():
    coco = Config.fromfile(f'{REPO_ROOT}/configs/retinanet_evit_m4_1x.py')
    assert fixed_batch_shapes(coco) == [(800, 1344), (1344, 800)]  # Resize to 1333x800
    demo = Config.fromfile(f'{REPO_ROOT}/configs/{DETECTORS["m4"]}')
    assert fixed_batch_shapes(demo) == [(128, 160), (160, 128)]


@pytest.mark.parametrize('arch', ['m4', 'b1'])
def test_compiled_inference_equals_eager(arch):
    eager = detector(arch)
    compiled = accelerate(copy.deepcopy(eager))  # the fast path, compiled
    data = detection_batch(128, 160, batch_size=4)
    with torch.no_grad():
        x = eager.data_preprocessor(data, False)['inputs']
        err = max_relative_error(flatten(TensorForward(compiled)(x)),
                                 flatten(TensorForward(eager)(x)))
        assert err < 1e-4
        expected, got = eager.test_step(data), compiled.test_step(data)
    for a, b in zip(expected, got):
        assert_same_detections(a.pred_instances, b.pred_instances)


@pytest.mark.parametrize('arch', ['m4', 'b1'])
def test_compiled_training_equals_eager(arch):
    """One training step of the detector with the compiled backbone, in float64.

    In float64 the compiled step agrees with eager to ~1e-14: the same function and the
    same gradient. In float32, inductor's generated CPU kernels round differently from
    eager's (backbone gradients 3e-3 apart for this randomised M4, where eager float32
    is 7e-6 from float64), and ReLU kinks in the neck and head turn feature differences
    of 1e-6 into gradient differences of up to 5e-4 for some initialisations; neither says
    anything about the compiled graph, so float32 agreement is measured on the GPU by
    ``tools/benchmark.py --settings gpu`` instead.
    """
    eager = detector(arch).double().train()
    compiled = copy.deepcopy(eager)
    assert compile_model(compiled) == ['backbone']
    data = eager.data_preprocessor(detection_batch(128, 160, batch_size=4, with_targets=True),
                                   True)
    data['inputs'] = data['inputs'].double()

    def step(model):
        loss, log = model.parse_losses(model(**data, mode='loss'))
        loss.backward()
        return log

    log, compiled_log = step(eager), step(compiled)
    for key in log:
        assert relative(compiled_log[key], log[key]) < 1e-10, key
    buffers = dict(eager.named_buffers())
    for name, value in compiled.named_buffers():  # BatchNorm statistics of the step
        if value.is_floating_point():
            assert relative(value, buffers[name]) < 1e-10, name
    grads = [(p.grad, q.grad) for p, q in zip(eager.parameters(), compiled.parameters())
             if p.requires_grad]
    assert all(a is not None and b is not None for a, b in grads)
    assert relative(torch.cat([b.flatten() for _, b in grads]),
                    torch.cat([a.flatten() for a, _ in grads])) < 1e-10


def test_compile_model_names_and_skips():
    model = build_model(Config.fromfile(f'{REPO_ROOT}/configs/{DETECTORS["m4"]}'))
    assert compile_model(model, ('backbone', 'neck', 'decode_head')) == ['backbone', 'neck']
    with pytest.raises(TypeError, match='RetinaNet.test_cfg is a ConfigDict, not a module'):
        compile_model(model, ('test_cfg', ))


def test_half_precision_network_with_float32_post_processing():
    eager = detector('m4')
    half = copy.deepcopy(eager)
    assert half_precision(half) == ['backbone', 'neck', 'bbox_head']
    data = detection_batch(128, 160, batch_size=2)
    with torch.no_grad():
        x = eager.data_preprocessor(data, False)['inputs']
        outputs = flatten(TensorForward(half)(x))
        assert all(o.dtype == torch.float32 for o in outputs)  # handed on in float32
        # bfloat16 on the CPU: about 3 significant digits
        assert max_relative_error(outputs, flatten(TensorForward(eager)(x))) < 0.05
        results = half.test_step(data)  # NMS gets float32 boxes
    assert results[0].pred_instances.scores.dtype == torch.float32
    copied = copy.deepcopy(half)  # the wrapped forward follows the copy
    assert copied.backbone.forward.__self__ is copied.backbone


def test_setup_compile_adds_the_hook_and_fixed_shapes_once():
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/retinanet_evit_m4_1x.py')
    setup_compile(cfg)
    assert cfg.custom_hooks == [dict(type='CompileHook')]
    assert cfg.model.data_preprocessor.type == 'FixedShapeDetDataPreprocessor'
    assert cfg.model.data_preprocessor.batch_shapes == [(800, 1344), (1344, 800)]
    configured = [dict(type='CompileHook', backend='aot_eager')]
    cfg.custom_hooks = list(configured)
    setup_compile(cfg)
    assert cfg.custom_hooks == configured  # the config's own hook is kept as it is
