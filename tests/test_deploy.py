"""The inference fast path equals the plain modules; ONNX exports match PyTorch."""
import copy

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import config_model, image
from mmevit.benchmark import count_kernels
from mmevit.deploy import (TensorForward, deployed_copy, export_onnx, fast_path, flatten,
                           max_relative_error, onnx_max_relative_error, onnx_session)
from mmevit.models import ARCHS, build_backbone
from mmevit.models.backbones.efficientvit_mit import LiteMLA
from mmevit.models.backbones.efficientvit_msra import (CascadedGroupAttention, ConvNorm,
                                                       Residual)
from mmevit.testing import randomize_batchnorm


def plain_backbone(arch):
    return randomize_batchnorm(build_backbone(arch).eval())


@pytest.mark.parametrize('arch', ARCHS)
def test_fast_path_equals_plain(arch):
    plain = plain_backbone(arch)
    fast = deployed_copy(plain)
    assert not any(isinstance(m, _BatchNorm) for m in fast.modules())
    attns = [m for m in fast.modules() if isinstance(m, CascadedGroupAttention)]
    in_attention = {id(c) for a in attns for c in a.modules()}
    convs = [m for m in fast.modules() if isinstance(m, torch.nn.Conv2d)]
    # channels-last, except inside the M-series attention whose windows are NCHW
    for conv in convs:
        layout = (torch.contiguous_format if id(conv) in in_attention
                  else torch.channels_last)
        assert conv.weight.is_contiguous(memory_format=layout)
    if arch.startswith('m'):
        assert attns and all(m.deployed for m in attns)
        assert not any(isinstance(m, Residual) and isinstance(m.m, ConvNorm)
                       and m.m.conv.groups > 1
                       for m in fast.modules()), 'a residual depthwise conv was not merged'
    # 100x150: windows padded at every stage, maps smaller than a window in the last ones
    inputs = (image(100, 150), image(224, 224, seed=1))
    for x in inputs:
        with torch.no_grad():
            expected, got = plain(x), fast(x)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert a.shape == b.shape and a.is_contiguous()  # the usual layout for necks
            assert max_relative_error([a], [b]) < 1e-4
    # switching again, directly or through fast_path, changes nothing
    state = {k: v.clone() for k, v in fast.state_dict().items()}
    assert fast.switch_to_deploy() is fast and fast_path(fast) is fast
    assert fast.state_dict().keys() == state.keys()
    assert all(torch.equal(v, state[k]) for k, v in fast.state_dict().items())


def test_fast_path_launches_fewer_kernels():
    # per M4 forward: no BatchNorm, one multiplication less per attention head (the scale
    # is in the query convs) and one addition less per residual depthwise conv
    # (counted against the model's own structure, not numbers a torch upgrade may change)
    plain = plain_backbone('m4')
    fast = deployed_copy(plain)
    x = image(224, 224)
    with torch.inference_mode():
        before, after = count_kernels(lambda: plain(x)), count_kernels(lambda: fast(x))
    heads = sum(a.num_heads for a in fast.modules() if isinstance(a, CascadedGroupAttention))
    merged = sum(isinstance(m, Residual) and isinstance(m.m, ConvNorm) and m.m.conv.groups > 1
                 for m in plain.modules())
    norms = sum(isinstance(m, _BatchNorm) for m in plain.modules())
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in plain.modules())
    assert heads > 0 and merged > 0

    def total(counts, part):
        return sum(n for k, n in counts.items() if part in k)
    assert total(before, 'batch_norm') == norms and total(after, 'batch_norm') == 0
    assert before['mul'] - after['mul'] == heads
    assert before['add'] - after['add'] == merged
    assert total(after, 'conv') == total(before, 'conv') == convs


def test_fast_path_leaves_plain_model_and_is_idempotent_on_detectors():
    model = randomize_batchnorm(config_model('retinanet_evit_m4_1x.py'))
    before = copy.deepcopy(model.state_dict())
    fast = deployed_copy(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(isinstance(m, _BatchNorm) for m in fast.modules())
    x = image(128, 160)
    with torch.no_grad():
        err = max_relative_error(flatten(TensorForward(fast)(x)),
                                 flatten(TensorForward(model)(x)))
    assert err < 1e-4


@pytest.mark.parametrize('arch', ['m4', 'b1'])
def test_onnx_backbone_matches_pytorch(arch, tmp_path):
    plain = plain_backbone(arch)
    x = image(100, 150)
    path = str(tmp_path / f'{arch}.onnx')
    names = export_onnx(deployed_copy(plain), x, path)
    assert len(names) == len(plain.out_indices)
    assert onnx_max_relative_error(onnx_session(path), plain, x) < 1e-4


@pytest.mark.parametrize('config', ['retinanet_evit_m4_1x.py', 'mask_rcnn_evit_m4_1x.py',
                                    'demo/efficientvit_seg_b1_shapes.py'])
def test_onnx_network_without_nms_matches_pytorch(config, tmp_path):
    network = TensorForward(randomize_batchnorm(config_model(config)))
    x = image(128, 160)
    path = str(tmp_path / 'model.onnx')
    export_onnx(deployed_copy(network), x, path)
    assert onnx_max_relative_error(onnx_session(path), network, x) < 1e-4


@pytest.mark.parametrize('size', [(4, 5), (16, 20)])  # quadratic and linear attention
def test_onnx_keeps_the_linear_attention_epsilon(size, tmp_path):
    attn = LiteMLA(64, 64).eval()
    with torch.no_grad():
        attn.qkv.conv.weight[:64] = -attn.qkv.conv.weight[:64].abs()  # every q <= 0 ...
    x = torch.rand(1, 64, *size)  # ... for positive inputs: the normaliser is 0 + eps
    path = str(tmp_path / 'attn.onnx')
    export_onnx(attn, x, path)
    with torch.no_grad():
        assert torch.isfinite(attn(x)).all()
    assert onnx_max_relative_error(onnx_session(path), attn, x) < 1e-4


@pytest.mark.parametrize('size, output_size', [
    ((16, 20), 3), ((16, 20), 6), ((12, 12), 4), ((7, 5), (3, None)), ((5, 9), (6, 2))])
def test_adaptive_average_by_bins_equals_pytorchs_pooling(size, output_size):
    from mmevit.deploy.mmdeploy_compat import adaptive_average_by_bins
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    expected = torch.nn.functional.adaptive_avg_pool2d(x, output_size)
    assert torch.allclose(adaptive_average_by_bins(x, output_size), expected, atol=1e-6)


def test_adaptive_average_by_bins_exports_bins_that_follow_the_input(tmp_path):
    """Exported at 16x20, it pools other sizes as PyTorch does (mmdeploy's own export fixes
    kernel and stride at 16x20's, rounded down)."""
    from mmevit.deploy.mmdeploy_compat import adaptive_average_by_bins

    class Pool(torch.nn.Module):
        def forward(self, x):
            return adaptive_average_by_bins(x, 6)

    path = str(tmp_path / 'pool.onnx')
    torch.onnx.export(Pool(), (torch.randn(1, 2, 16, 20), ), path, dynamo=False,
                      opset_version=11, input_names=['input'],
                      dynamic_axes={'input': {2: 'h', 3: 'w'}})
    session = onnx_session(path)
    for size in ((16, 20), (12, 12), (9, 31)):
        x = torch.randn(1, 2, *size)
        pooled = torch.from_numpy(session.run(None, {'input': x.numpy()})[0])
        assert torch.allclose(pooled, torch.nn.functional.adaptive_avg_pool2d(x, 6), atol=1e-6)


def test_tensor_forward_with_roi_heads_runs_the_mask_rcnn_heads():
    model = config_model('mask_rcnn_evit_m4_1x.py')
    x = image(128, 160)
    with torch.no_grad():
        feats, rpn_outs = TensorForward(model)(x)
        (roi_outs, ) = TensorForward(model, with_roi_heads=True)(x)
    assert len(feats) == 5 and len(rpn_outs) == 2  # RPN class scores and deltas per level
    cls_score, bbox_pred, mask_preds = roi_outs  # on the RPN's proposals (after its NMS)
    assert cls_score.shape[1] == 81 and bbox_pred.shape[1] == 4 * 80
    assert mask_preds.shape[1:] == (80, 28, 28)


def test_mmdeploy_compat_is_applied_only_inside_its_block(monkeypatch):
    import importlib
    from mmevit.deploy.mmdeploy_compat import torchscript_onnx_export
    calls = []
    monkeypatch.setattr(torch.onnx, 'export', lambda *a, **k: calls.append(k))
    original = torch.onnx.export
    opset9 = importlib.import_module('torch.onnx.symbolic_opset9')
    had_cast = hasattr(opset9, '_cast_Long')
    with torchscript_onnx_export():
        torch.onnx.export('model', 'args', 'file')
        torch.onnx.export('model', 'args', 'file', dynamo=True)  # the caller's choice stays
        from torch.onnx.symbolic_opset9 import _cast_Long  # what mmdeploy's RoIAlign imports

        class Graph:
            def op(self, name, value, **attrs):
                return name, value, attrs
        assert _cast_Long(Graph(), 'x', False) == ('Cast', 'x', {'to_i': 7})  # int64
    assert calls == [dict(dynamo=False), dict(dynamo=True)]
    assert torch.onnx.export is original and hasattr(opset9, '_cast_Long') == had_cast


def onnx_non_max_suppression(boxes, scores, iou_threshold):
    """The indices onnxruntime's NonMaxSuppression keeps, one class, in the order it keeps them."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper
    inputs = [helper.make_tensor_value_info('boxes', TensorProto.FLOAT, [1, None, 4]),
              helper.make_tensor_value_info('scores', TensorProto.FLOAT, [1, 1, None])]
    limits = [helper.make_tensor('max_out', TensorProto.INT64, [1], [len(scores)]),
              helper.make_tensor('iou', TensorProto.FLOAT, [1], [iou_threshold])]
    graph = helper.make_graph(
        [helper.make_node('NonMaxSuppression', ['boxes', 'scores', 'max_out', 'iou'], ['kept'])],
        'nms', inputs, [helper.make_tensor_value_info('kept', TensorProto.INT64, [None, 3])],
        initializer=limits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 11)])
    model.ir_version = 8  # what onnxruntime reads
    onnx.checker.check_model(model)
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=['CPUExecutionProvider'])
    kept = session.run(None, {'boxes': boxes[None].numpy(), 'scores': scores[None, None].numpy()})
    return torch.from_numpy(kept[0][:, 2])


def test_pytorch_nms_takes_tied_scores_in_the_exported_models_order():
    """Boxes with exactly equal scores (weakly trained Mask R-CNNs give them): mmcv's NMS keeps
    those its unstable sort puts first, ONNX's NonMaxSuppression takes them in index order;
    inside ``pytorch_nms_ties_by_index`` mmdet's NMS keeps what onnxruntime keeps."""
    import importlib

    from mmcv.ops import batched_nms, nms
    from mmevit.deploy.mmdeploy_compat import nms_ties_by_index, pytorch_nms_ties_by_index
    nms_module = importlib.import_module('mmcv.ops.nms')  # ``mmcv.ops.nms`` is the function
    generator = torch.Generator().manual_seed(0)
    differed = 0
    for _ in range(10):
        corners = torch.rand(60, 2, generator=generator) * 100
        boxes = torch.cat([corners, corners + 20], 1)
        scores = torch.tensor([0.2, 0.5, 0.7])[torch.randint(3, (60, ), generator=generator)]
        expected = onnx_non_max_suppression(boxes, scores, 0.3)
        dets, kept = nms_ties_by_index(boxes, scores, 0.3)
        assert torch.equal(kept, expected)
        assert torch.equal(dets, torch.cat([boxes[kept], scores[kept, None]], 1))
        differed += not torch.equal(nms(boxes, scores, 0.3)[1].sort()[0], expected.sort()[0])
        # mmdet calls it through mmcv's batched_nms, here with two classes
        labels = torch.arange(60) % 2
        with pytorch_nms_ties_by_index():
            _, in_block = batched_nms(boxes, scores, labels, dict(iou_threshold=0.3))
        per_class = [torch.nonzero(labels == c)[:, 0] for c in (0, 1)]
        per_class = torch.cat([c[onnx_non_max_suppression(boxes[c], scores[c], 0.3)]
                               for c in per_class])
        assert torch.equal(in_block.sort()[0], per_class.sort()[0])
    assert differed > 0  # mmcv's own order differs: what the block is for
    assert nms_module.nms is nms  # restored

    # without ties, and with mmcv's score threshold and cap: mmcv's result
    scores = torch.rand(60, generator=generator)
    for options in (dict(), dict(score_threshold=0.5), dict(max_num=5)):
        for ours, theirs in zip(nms_ties_by_index(boxes, scores, 0.3, **options),
                                nms(boxes, scores, 0.3, **options)):
            assert torch.equal(ours, theirs), options


@pytest.mark.parametrize('arch', ['b0', 'm0'])
def test_linear_attention_layers_are_found_by_name_in_torchscript_exports(arch):
    """fp16 TensorRT engines keep LiteMLA's attention in fp32 by layer name (TensorRT names its
    layers after the ONNX nodes of mmdeploy's TorchScript export): every attention product and
    normaliser, no convolution; nothing in the M-series."""
    import io

    import onnx
    from mmevit.deploy.mmdeploy_compat import is_linear_attention_layer
    backbone = plain_backbone(arch)
    exported = io.BytesIO()
    torch.onnx.export(backbone, image(64, 96), exported, dynamo=False, opset_version=11)
    nodes = onnx.load_from_string(exported.getvalue()).graph.node
    picked = [n for n in nodes if is_linear_attention_layer(n.name)]
    attentions = sum(isinstance(m, LiteMLA) for m in backbone.modules())
    if arch == 'm0':
        assert attentions == 0 and picked == []
        return
    matmuls = [n for n in nodes if n.op_type == 'MatMul']
    assert attentions > 0 and len(matmuls) == 2 * attentions  # two products per attention
    assert all(is_linear_attention_layer(n.name) for n in matmuls)
    assert sum(n.op_type == 'Div' for n in picked) == attentions  # the normalisers
    assert sum(n.op_type == 'Relu' for n in picked) == 2 * attentions  # the kernels of q, k
    assert not any(n.op_type in ('Conv', 'BatchNormalization') for n in picked)


def test_tensorrt_fp16_builds_pin_the_linear_attention_on_a_stand_in_builder(monkeypatch):
    """The builder hook's logic, on a stand-in for TensorRT's Python API (no TensorRT without a
    GPU; the real API is not checked here): in fp16 builds it pins the attention's float layers
    to fp32 and asks TensorRT to obey, leaves fp32 builds alone, and is gone after the block,
    also when the build fails."""
    import sys
    import types
    from mmevit.deploy.mmdeploy_compat import tensorrt_linear_attention_in_fp32
    trt = types.SimpleNamespace(float32='float32', int32='int32',
                                BuilderFlag=types.SimpleNamespace(
                                    FP16='FP16', OBEY_PRECISION_CONSTRAINTS='OBEY'))

    class Builder:
        def build_serialized_network(self, network, config):
            return 'engine'

    class Layer:
        def __init__(self, name, dtype):
            self.name, self.precision, self.num_outputs = name, None, 1
            self.outputs = [types.SimpleNamespace(dtype=dtype)]
            self.output_types = {}

        def get_output(self, i):
            return self.outputs[i]

        def set_output_type(self, i, dtype):
            self.output_types[i] = dtype

    class Config:
        def __init__(self, *flags):
            self.flags = set(flags)

        def get_flag(self, flag):
            return flag in self.flags

        def set_flag(self, flag):
            self.flags.add(flag)

    def network():
        prefix = '/backbone/stages.3/stages.3.1/context_module/main'
        layers = [Layer(f'{prefix}/MatMul', 'float32'), Layer(f'{prefix}/Div', 'float32'),
                  Layer(f'{prefix}/Shape', 'int32'), Layer(f'{prefix}/qkv/conv/Conv', 'float32'),
                  Layer('/backbone/stages.3/stages.3.1/local_module/main/Conv', 'float32')]
        return types.SimpleNamespace(num_layers=len(layers), get_layer=layers.__getitem__,
                                     layers=layers)

    trt.Builder = Builder
    original = Builder.build_serialized_network
    monkeypatch.setitem(sys.modules, 'tensorrt', trt)
    fp16, fp32 = network(), network()
    fp16_config, fp32_config = Config('FP16'), Config()
    with tensorrt_linear_attention_in_fp32():
        assert Builder().build_serialized_network(fp16, fp16_config) == 'engine'
        assert Builder().build_serialized_network(fp32, fp32_config) == 'engine'
    assert [layer.precision for layer in fp16.layers] == ['float32', 'float32', None, None, None]
    assert [layer.output_types for layer in fp16.layers] == [{0: 'float32'}] * 2 + [{}] * 3
    assert fp16_config.flags == {'FP16', 'OBEY'}
    assert all(layer.precision is None for layer in fp32.layers) and fp32_config.flags == set()
    assert Builder.build_serialized_network is original

    def failing_build(self, network, config):
        raise RuntimeError('no engine')
    Builder.build_serialized_network = original = failing_build
    with pytest.raises(RuntimeError, match='no engine'):
        with tensorrt_linear_attention_in_fp32():
            Builder().build_serialized_network(network(), Config('FP16'))
    assert Builder.build_serialized_network is original


def _deploy_tool():
    """tools/deployment/deploy.py as a module (its mmdeploy imports are inside functions)."""
    import importlib.util
    import os.path as osp

    from conftest import REPO_ROOT
    spec = importlib.util.spec_from_file_location(
        'deploy_tool', osp.join(REPO_ROOT, 'tools', 'deployment', 'deploy.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deploy_checks_refuse_to_pass_on_nothing_compared():
    """deploy.py's verdicts: matching detections pass, a box 2 px off does not, and an image
    or test set without detections is no evidence (it once printed '0 of 0 ... match')."""
    import argparse

    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    tool = _deploy_tool()
    args = argparse.Namespace(score_thr=0.3, score_tol=1e-3, box_tol=1.0, mask_iou=0.9)

    def sample(scores, boxes):
        result = DetDataSample()
        result.pred_instances = InstanceData(scores=torch.tensor(scores),
                                             bboxes=torch.tensor(boxes),
                                             labels=torch.zeros(len(scores), dtype=torch.long))
        return result

    pytorch = sample([0.9, 0.2], [[10., 10., 50., 50.], [0., 0., 5., 5.]])
    summary, problem = tool.check_detections(
        sample([0.9], [[10.5, 10., 50., 50.]]), pytorch, args)
    assert problem == '' and summary.startswith("1 of 1 detections above 0.3 match PyTorch's 1")
    _, problem = tool.check_detections(sample([0.9], [[12., 10., 50., 50.]]), pytorch, args)
    assert '0 of 1 detections' in problem
    # two of ours that are both close to one of PyTorch's: one counterpart each, not one twice
    twice = sample([0.9, 0.9], [[10., 10., 50., 50.], [10.5, 10., 50., 50.]])
    _, problem = tool.check_detections(
        twice, sample([0.9, 0.9], [[10., 10., 50., 50.], [30., 30., 60., 60.]]), args)
    assert "1 of 2 detections above 0.3 match PyTorch's 2" in problem
    args.score_thr = 0.95
    _, problem = tool.check_detections(sample([0.9], [[10., 10., 50., 50.]]), pytorch, args)
    assert 'no detection above 0.95 in either model: nothing to compare' in problem

    full, empty = torch.ones(4, 4, dtype=torch.bool), torch.zeros(4, 4, dtype=torch.bool)
    assert tool.mask_iou(full, full) == tool.mask_iou(empty, empty) == 1.0  # empty: agree
    assert tool.mask_iou(full, empty) == 0.0 and tool.mask_iou(full, full.triu()) == 10 / 16

    metrics = {'coco/bbox_mAP': 0.5, 'coco/bbox_mAP_50': 0.7}
    assert tool.check_metrics(dict(metrics), metrics, 1e-3) == ''
    assert tool.check_metrics(dict(metrics, **{'coco/bbox_mAP': 0.49}), metrics,
                              1e-3).endswith(': coco/bbox_mAP')
    assert 'nothing to compare' in tool.check_metrics({}, {}, 1e-3)
