"""tools/deployment/deploy.py: detectors and segmentors through mmdeploy to onnxruntime models
with their post-processing (NMS in the graph), checked against PyTorch on a shapes image and,
for the trained demo models, on the shapes test set's metrics.
Runs in .venv-deploy (``make deploy-venv``, which ``make test`` builds)."""
import json
import os.path as osp
import re
import subprocess

import numpy as np
import pytest

from conftest import REPO_ROOT, check, loader_options, run_tool
from mmevit.datasets import generate_shapes_dataset

DEPLOY_PYTHON = osp.join(REPO_ROOT, '.venv-deploy', 'bin', 'python')
pytestmark = pytest.mark.skipif(not osp.isfile(DEPLOY_PYTHON),
                                reason='no .venv-deploy: make deploy-venv')


def deploy(deploy_config, model_config, checkpoint, image, work, *options):
    """Run deploy.py (configs relative to configs/ and configs/deploy/); returns its output
    after checking that it succeeded."""
    proc = subprocess.run(
        [DEPLOY_PYTHON, osp.join(REPO_ROOT, 'tools', 'deployment', 'deploy.py'),
         osp.join(REPO_ROOT, 'configs', 'deploy', deploy_config),
         osp.join(REPO_ROOT, 'configs', model_config), checkpoint, image, '--work-dir', work,
         *options], capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(osp.join(work, 'end2end.onnx')), last
    return proc.stdout


def detections_compared(output, score_thr):
    """How many detections above ``score_thr`` deploy.py compared; all of them matched."""
    last = output.strip().splitlines()[-1]
    matched, _, count, *_ = last.split(': ')[1].split()
    assert f"detections above {score_thr} match PyTorch's" in last, last
    assert matched == count, last
    return int(count)


def assert_post_processing_in_graph(onnx_file):
    import onnx
    graph = onnx.load(onnx_file).graph
    assert any(n.op_type == 'NonMaxSuppression' for n in graph.node)
    assert [o.name for o in graph.output][:2] == ['dets', 'labels']


# The demo models, trained briefly on a generated shapes set so that their detections and
# label maps mean something (the full demo schedules take minutes each): config, schedule
# (warm-up shortened to 10 iterations; no validation, deploy.py --eval evaluates), the
# checkpoint it ends with.
DET_SCHEDULE = ['train_cfg.max_epochs=6', 'train_cfg.val_begin=7',
                'default_hooks.checkpoint.interval=6', 'param_scheduler.0.end=10']
TRAINED = {
    'retinanet': ('demo/retinanet_evit_m4_shapes.py', DET_SCHEDULE, 'epoch_6.pth'),
    'mask_rcnn': ('demo/mask_rcnn_evit_m4_shapes.py', DET_SCHEDULE, 'epoch_6.pth'),
    'seg_b1': ('demo/efficientvit_seg_b1_shapes.py',
               ['train_cfg.max_iters=60', 'train_cfg.val_begin=61',
                'default_hooks.checkpoint.interval=60', 'param_scheduler.0.end=10',
                'param_scheduler.1.begin=10', 'param_scheduler.1.end=60'], 'iter_60.pth'),
}


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """``name -> (config, checkpoint, data root)`` of a demo model trained by tools/train.py."""
    root = str(tmp_path_factory.mktemp('shapes_deploy')) + '/'
    generate_shapes_dataset(root, num_train=48, num_val=8)
    cache = {}

    def train(name):
        if name not in cache:
            config, schedule, last = TRAINED[name]
            work = str(tmp_path_factory.mktemp(name))
            check(run_tool('train.py', osp.join(REPO_ROOT, 'configs', config), '--work-dir',
                           work, '--cfg-options', *loader_options(root, name != 'seg_b1'),
                           *schedule))
            cache[name] = (config, osp.join(work, last), root)
        return cache[name]

    return train


def metrics_table(output):
    """The metrics table deploy.py prints: every test-set metric, backend and PyTorch."""
    lines = output.splitlines()
    start = lines.index('| metric | backend | PyTorch |') + 2
    rows = [line.strip('|').split('|') for line in lines[start:] if line.startswith('| ')]
    return {key.strip(): (float(ours), float(theirs)) for key, ours, theirs in rows}


@pytest.mark.parametrize('name, deploy_config, score_thr', [
    ('retinanet', 'detection_onnxruntime_dynamic.py', 0.1),
    ('seg_b1', 'segmentation_onnxruntime_dynamic.py', None),
])
def test_trained_demo_model_exports_with_pytorchs_outputs_and_metrics(
        name, deploy_config, score_thr, trained, tmp_path):
    config, checkpoint, root = trained(name)
    work = str(tmp_path / 'deploy')
    image = osp.join(root, 'images', 'val', '000001.png')
    options = ['--eval', '--cfg-options', *loader_options(root, score_thr is not None)]
    if score_thr is not None:
        options = ['--score-thr', str(score_thr), *options]
    output = deploy(deploy_config, config, checkpoint, image, work, *options)
    metrics = metrics_table(output)
    for key in ['coco/bbox_mAP', 'coco/bbox_mAP_50'] if score_thr else ['mIoU', 'aAcc']:
        assert metrics[key][0] == pytest.approx(metrics[key][1], abs=1e-3), key
    if score_thr is None:
        assert metrics['mIoU'][1] > 30  # trained: above all-background's ~24
        assert "label map equals PyTorch's" in output.strip().splitlines()[-1]
    else:
        assert metrics['coco/bbox_mAP_50'][1] > 0.1  # trained: real detections to compare
        assert detections_compared(output, score_thr) > 0
        assert_post_processing_in_graph(osp.join(work, 'end2end.onnx'))


def test_trained_mask_rcnn_exports_with_pytorchs_outputs_and_metrics(trained, tmp_path):
    """Briefly trained, Mask R-CNN's box head scores many RoIs exactly alike (a ReLU zeroes
    their features), and which of those tied boxes NMS keeps depends on the order it takes
    them in; deploy.py's PyTorch reference takes them in index order, as ONNX's
    NonMaxSuppression does (``pytorch_nms_ties_by_index``)."""
    config, checkpoint, root = trained('mask_rcnn')
    work = str(tmp_path / 'deploy')
    output = deploy('instance-seg_onnxruntime_dynamic.py', config, checkpoint,
                    osp.join(root, 'images', 'val', '000001.png'), work, '--score-thr', '0.1',
                    '--eval', '--cfg-options', *loader_options(root, True))
    assert detections_compared(output, 0.1) > 0
    metrics = metrics_table(output)
    for key, (ours, theirs) in metrics.items():
        assert ours == pytest.approx(theirs, abs=1e-3), key
    assert metrics['coco/bbox_mAP_50'][1] > 0.1 and metrics['coco/segm_mAP_50'][1] > 0.1
    assert_post_processing_in_graph(osp.join(work, 'end2end.onnx'))


# mmdet's post-processing against its rewritten forms (mmevit's rewriters and mmdeploy's own,
# run eagerly: the functions the ONNX export traces), on random predictions in .venv-deploy:
# the RPN's proposals from five levels of anchors (two images), a class-specific box head's
# detections from random RoIs, and RetinaNet's, ATSS's and YOLOX's detections from three
# levels. Prints
# "CHECK[image] ours|mmdeploy: M of N match mmdet's K, Z of zero size" for each.
POST_PROCESSING_CHECK = """
import contextlib
import sys

import mmdeploy.codebase.mmdet.deploy  # noqa: F401  (imported before the rewriting starts)
import mmdeploy.codebase.mmdet.models  # noqa: F401
import mmdeploy.mmcv.ops  # noqa: F401
import torch
from mmdeploy.core import RewriterContext
from mmdeploy.utils import load_config
from mmdet.models.dense_heads import ATSSHead, RetinaHead, RPNHead, YOLOXHead
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmengine.config import ConfigDict

from mmevit.deploy.mmdeploy_compat import mmdet_post_processing

deploy_cfg = load_config(sys.argv[1])[0]


def compare(check, predict, refs, with_labels):
    for name, ours in (('ours', mmdet_post_processing),
                       ('mmdeploy', contextlib.nullcontext)):
        with torch.no_grad(), ours(), RewriterContext(cfg=deploy_cfg, backend='onnxruntime'):
            batch_dets, batch_labels = predict()
        for image, ref in enumerate(refs):
            keep = batch_dets[image, :, 4] > 0
            dets, labels = batch_dets[image, keep], batch_labels[image, keep]
            same = (((dets[:, None, :4] - ref.bboxes[None]).abs() < 1e-3).all(-1)
                    & ((dets[:, None, 4] - ref.scores[None]).abs() < 1e-5))
            if with_labels:
                same &= labels[:, None] == ref.labels[None]
            zero_size = int((dets[:, 2:4] <= dets[:, :2]).any(1).sum())
            print(f"{check}[{image}] {name}: {int(same.any(1).sum())} of {len(dets)} "
                  f"match mmdet's {len(ref)}, {zero_size} of zero size")


torch.manual_seed(0)
strides, size = [4, 8, 16, 32, 64], 128
rpn = RPNHead(in_channels=8, feat_channels=8, anchor_generator=dict(
    type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0], strides=strides)).eval()
cls_scores = [torch.randn(2, 3, size // s, size // s) * 3 for s in strides]
bbox_preds = [torch.randn(2, 12, size // s, size // s) * 0.5 for s in strides]
# nms_pre=200 keeps fewer boxes than some levels have anchors, -1 keeps all (one image:
# mmdeploy's decoding does not repeat the anchors over a batch when it keeps them all)
for nms_pre, images in ((200, 2), (-1, 1)):
    cfg = ConfigDict(nms_pre=nms_pre, max_per_img=300, min_bbox_size=0,
                     nms=dict(type='nms', iou_threshold=0.7))
    args = ([s[:images] for s in cls_scores], [b[:images] for b in bbox_preds])
    meta = [dict(img_shape=(size, size))] * images
    compare(f'rpn_nms_pre={nms_pre}',
            lambda: rpn.predict_by_feat(*args, batch_img_metas=meta, cfg=cfg),
            rpn.predict_by_feat(*args, batch_img_metas=meta, cfg=cfg), False)

head = Shared2FCBBoxHead(in_channels=8, fc_out_channels=16, roi_feat_size=7, num_classes=3,
                         bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                                         target_stds=[0.1, 0.1, 0.2, 0.2]),
                         reg_class_agnostic=False).eval()
n = 30
xy = torch.rand(n, 2) * 200
rois = torch.cat([torch.zeros(n, 1), xy, xy + 20 + torch.rand(n, 2) * 60], 1)
cls_scores, bbox_preds = torch.randn(n, 4) * 3, torch.randn(n, 12)
cfg = ConfigDict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)
meta = [dict(img_shape=(320, 320))]
compare('box_head', lambda: head.predict_by_feat(rois[None], cls_scores[None],
                                                 bbox_preds[None], meta, cfg),
        head.predict_by_feat((rois, ), (cls_scores, ), (bbox_preds, ), meta, cfg), True)

# RetinaNet on 256, 64 and 16 anchors: box deltas that take some boxes out of the image
# (clipped to it, they have no width or height); nms_pre 1000 keeps every anchor, 40 fewer
strides, size = [8, 16, 32], 128
cls_scores = [torch.randn(1, 3, size // s, size // s) * 2 for s in strides]
bbox_preds = [torch.randn(1, 4, size // s, size // s) for s in strides]
meta = [dict(img_shape=(size, size))]
for nms_pre in (1000, 40):
    head = RetinaHead(num_classes=3, in_channels=8, feat_channels=8, stacked_convs=1,
                      anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                            scales_per_octave=1, ratios=[1.0],
                                            strides=strides),
                      test_cfg=ConfigDict(nms_pre=nms_pre, min_bbox_size=0, score_thr=0.05,
                                          nms=dict(type='nms', iou_threshold=0.5),
                                          max_per_img=100)).eval()
    compare(f'retinanet_nms_pre={nms_pre}',
            lambda: head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=meta),
            head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=meta), True)

# one class on 400 anchors that do not overlap (8 px at stride 8): NMS keeps them all, and
# max_per_img 300 of them
head = RetinaHead(num_classes=1, in_channels=8, feat_channels=8, stacked_convs=1,
                  anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1,
                                        scales_per_octave=1, ratios=[1.0], strides=[8]),
                  test_cfg=ConfigDict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                                      nms=dict(type='nms', iou_threshold=0.5),
                                      max_per_img=300)).eval()
cls_scores, bbox_preds = [torch.randn(1, 1, 20, 20)], [torch.zeros(1, 4, 20, 20)]
meta = [dict(img_shape=(160, 160))]
compare('retinanet_one_class',
        lambda: head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=meta),
        head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=meta), True)

# ATSS (centerness as score factors) on the three levels above, class scores spread around
# the 0.05 threshold; nms_pre 1000 keeps every anchor, 40 fewer; no cap reached
cls_scores = [torch.randn(1, 3, size // s, size // s) - 2 for s in strides]
bbox_preds = [torch.randn(1, 4, size // s, size // s) * 0.5 for s in strides]
centernesses = [torch.randn(1, 1, size // s, size // s) * 2 for s in strides]
meta = [dict(img_shape=(size, size))]
for nms_pre in (1000, 40):
    head = ATSSHead(num_classes=3, in_channels=8, feat_channels=8, stacked_convs=1,
                    norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
                    anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                                          octave_base_scale=4, scales_per_octave=1,
                                          strides=strides),
                    test_cfg=ConfigDict(nms_pre=nms_pre, min_bbox_size=0, score_thr=0.05,
                                        nms=dict(type='nms', iou_threshold=0.6),
                                        max_per_img=1000)).eval()
    compare(f'atss_nms_pre={nms_pre}',
            lambda: head.predict_by_feat(cls_scores, bbox_preds, centernesses,
                                         batch_img_metas=meta),
            head.predict_by_feat(cls_scores, bbox_preds, centernesses, batch_img_metas=meta),
            True)

# YOLOX on the three levels above: every anchor's top class only, and no cap (mmdet's YOLOX
# configs set no max_per_img)
head = YOLOXHead(num_classes=3, in_channels=8, feat_channels=8, stacked_convs=1,
                 strides=strides, test_cfg=ConfigDict(
                     score_thr=0.01, nms=dict(type='nms', iou_threshold=0.65))).eval()
cls_scores = [torch.randn(1, 3, size // s, size // s) for s in strides]
objectnesses = [torch.randn(1, 1, size // s, size // s) for s in strides]
compare('yolox', lambda: head.predict_by_feat(cls_scores, bbox_preds, objectnesses,
                                              batch_img_metas=meta),
        head.predict_by_feat(cls_scores, bbox_preds, objectnesses, batch_img_metas=meta), True)
"""


@pytest.fixture(scope='module')
def post_processing_counts():
    """``(check, rewriters) -> (matched, count, mmdet's count, count of zero size)`` from
    POST_PROCESSING_CHECK."""
    proc = subprocess.run(
        [DEPLOY_PYTHON, '-c', POST_PROCESSING_CHECK,
         osp.join(REPO_ROOT, 'configs', 'deploy', 'instance-seg_onnxruntime_dynamic.py')],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {}
    for line in proc.stdout.splitlines():
        if ' match ' in line:
            name, numbers = line.split(':')
            counts[tuple(name.split())] = [int(n) for n in re.findall(r'\d+', numbers)]
    return counts


def test_rpn_rewriter_gives_mmdets_proposals(post_processing_counts):
    """mmdeploy's RPN suppresses across levels and drops objectness below the deploy config's
    score threshold; mmevit's rewriter suppresses within each level without a threshold, as
    mmdet does, so every proposal of either image is mmdet's."""
    # some levels' best boxes (two images), all boxes
    for case in ('rpn_nms_pre=200[0]', 'rpn_nms_pre=200[1]', 'rpn_nms_pre=-1[0]'):
        matched, count, expected, _ = post_processing_counts[case, 'ours']
        assert matched == count == expected > 0, case
        matched, count, expected, _ = post_processing_counts[case, 'mmdeploy']
        assert matched < expected, case  # the difference the rewriter removes is there


def test_class_specific_box_head_rewriter_gives_mmdets_detections(post_processing_counts):
    """mmdeploy gives each RoI's top-class box to every class; mmevit's rewriter keeps a box
    per class as mmdet does (with mmdeploy's own, fewer detections match)."""
    matched, count, expected, _ = post_processing_counts['box_head[0]', 'ours']
    assert matched == count == expected > 0
    matched, count, expected, _ = post_processing_counts['box_head[0]', 'mmdeploy']
    assert matched < expected


def test_one_stage_rewriter_gives_mmdets_detections(post_processing_counts):
    """Boxes that leave the image are clipped to it, some to no width or height: mmdet drops
    them before NMS (``min_bbox_size=0``), mmdeploy's one-stage rewriter keeps them (and they
    suppress or displace mmdet's). With fewer anchors kept than a level has, mmdet keeps its
    ``nms_pre`` best (anchor, class) pairs, mmdeploy every class of its ``nms_pre`` best
    anchors, so it detects more. mmevit's rewriter does as mmdet does."""
    for case in ('retinanet_nms_pre=1000[0]', 'retinanet_nms_pre=40[0]'):
        matched, count, expected, zero_size = post_processing_counts[case, 'ours']
        assert matched == count == expected > 0 and zero_size == 0, case
        matched, count, expected, zero_size = post_processing_counts[case, 'mmdeploy']
        assert zero_size > 0 and matched < expected, case
    _, count, expected, _ = post_processing_counts['retinanet_nms_pre=40[0]', 'mmdeploy']
    assert count > expected


def test_one_stage_rewriter_caps_detections_per_image_only(post_processing_counts):
    """mmdet caps the detections of an image at ``max_per_img``; mmdeploy also caps those of
    each class at its deploy config's ``max_output_boxes_per_class`` (200), and the boxes NMS
    sees at ``pre_top_k`` (5000). mmevit's rewriter caps as mmdet does."""
    matched, count, expected, _ = post_processing_counts['retinanet_one_class[0]', 'ours']
    assert matched == count == expected == 300
    _, count, _, _ = post_processing_counts['retinanet_one_class[0]', 'mmdeploy']
    assert count == 200


def test_one_stage_rewriter_thresholds_class_scores_before_score_factors(
        post_processing_counts):
    """ATSS (and FCOS): mmdet thresholds and ranks the class scores and multiplies the kept
    ones by the centerness; mmdeploy thresholds and ranks the products, so it drops pairs
    mmdet keeps. mmevit's rewriter does as mmdet does."""
    for case in ('atss_nms_pre=1000[0]', 'atss_nms_pre=40[0]'):
        matched, count, expected, _ = post_processing_counts[case, 'ours']
        assert matched == count == expected > 0, case
        matched, _, expected, _ = post_processing_counts[case, 'mmdeploy']
        assert matched < expected, case


def test_yolox_rewriter_keeps_each_anchors_top_class_without_a_cap(post_processing_counts):
    """mmdet's YOLOX detects each anchor's top class only and caps nothing (its configs set
    no ``max_per_img``); mmdeploy's rewriter keeps every class above the threshold and caps
    the image's detections at 100. mmevit's rewriter does as mmdet does."""
    matched, count, expected, _ = post_processing_counts['yolox[0]', 'ours']
    assert matched == count == expected > 100
    matched, count, _, _ = post_processing_counts['yolox[0]', 'mmdeploy']
    assert count == 100 and matched < count


# 3 classes: random softmax scores over COCO's 81 stay under the 0.05 score threshold
THREE_CLASSES = {'model.roi_head.bbox_head.num_classes': 3,
                 'model.roi_head.mask_head.num_classes': 3}
# Each family's shipped config besides the trained demo models above (RetinaNet-M4, Mask
# R-CNN-M4, the B1 segmentor): deploy config, model config, backbone, model options, the test
# pipeline's resize scale (inputs scaled down to keep the test short; the 160x128 image
# resized to 120x96, for the L1 segmentor, makes label maps from argmax before resizing differ
# from mmseg's; None: the static deploy config's input shape)
FAMILIES = [
    ('detection_onnxruntime_dynamic.py', 'retinanet_evit_b1_1x.py', 'b1', {}, '(320,256)'),
    ('detection_onnxruntime_dynamic.py', 'retinanet_evit_l1_1x.py', 'l1', {}, '(320,256)'),
    ('instance-seg_onnxruntime_dynamic.py', 'mask_rcnn_evit_b1_1x.py', 'b1', THREE_CLASSES,
     '(320,256)'),
    ('instance-seg_onnxruntime_dynamic.py', 'mask_rcnn_evit_l1_1x.py', 'l1', THREE_CLASSES,
     '(320,256)'),
    ('segmentation_onnxruntime_dynamic.py', 'efficientvit_seg_l1_cityscapes.py', 'l1', {},
     '(120,96)'),
    ('segmentation_onnxruntime_static.py', 'demo/fpn_evit_m4_shapes_seg.py', 'm4', {}, None),
]
# In one .venv-deploy process (one interpreter start): for each run, seeded weights, then
# tools/deployment/deploy.py as from the command line; the checkpoint is removed afterwards.
DEPLOY_EACH = """
import json, os, runpy, sys
import torch
from mmengine.config import Config
from mmevit.models import build_model
for config, options, checkpoint, argv in json.loads(sys.argv[1]):
    torch.manual_seed(0)  # PyTorch's default init: scores spread over (0, 1)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    torch.save({'state_dict': build_model(cfg).state_dict()}, checkpoint)
    sys.argv = ['deploy.py', argv[0], config, checkpoint, *argv[1:]]
    try:
        runpy.run_path('tools/deployment/deploy.py', run_name='__main__')
    except SystemExit as exit:
        print(f'deploy.py exited with {exit.code}')
    os.remove(checkpoint)
"""


def test_every_family_exports_end_to_end(shapes_root, tmp_path):
    """RetinaNet-B1/L1, Mask R-CNN-B1/L1, the L1 segmentor and Semantic FPN-M4 with static
    shapes (seeded weights) through deploy.py: every detection or pixel equals PyTorch's, NMS
    is in every detector graph, and the B/L attention's nodes carry the names by which fp16
    TensorRT engines keep it fp32."""
    import onnx
    from mmevit.deploy.mmdeploy_compat import is_linear_attention_layer
    from mmevit.models import build_backbone
    from mmevit.models.backbones.efficientvit_mit import LiteMLA
    image = osp.join(shapes_root, 'images', 'val', '000000.png')
    runs = []
    for i, (deploy_config, config, _, options, scale) in enumerate(FAMILIES):
        argv = [osp.join(REPO_ROOT, 'configs', 'deploy', deploy_config), image, '--work-dir',
                str(tmp_path / str(i))]
        if scale or options:
            argv += ['--cfg-options', *[f'{key}={value}' for key, value in options.items()],
                     *([f'test_pipeline.1.scale={scale}'] if scale else [])]
        if not deploy_config.startswith('segmentation'):
            argv += ['--score-thr', '0.0']
        runs.append((osp.join(REPO_ROOT, 'configs', config), options,
                     str(tmp_path / f'{i}.pth'), argv))
    proc = subprocess.run([DEPLOY_PYTHON, '-c', DEPLOY_EACH, json.dumps(runs)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdicts = [line for line in proc.stdout.splitlines()
                if 'end2end.onnx: ' in line or line.startswith('deploy.py exited')]
    assert len(verdicts) == len(FAMILIES), proc.stdout[-3000:]
    for i, (family, verdict) in enumerate(zip(FAMILIES, verdicts)):
        deploy_config, config, arch = family[:3]
        onnx_file = str(tmp_path / str(i) / 'end2end.onnx')
        assert verdict.startswith(f'{onnx_file}: ') and 'MISMATCH' not in verdict, verdict
        if deploy_config.startswith('segmentation'):
            assert "label map equals PyTorch's on 100.0000% of the pixels" in verdict
            if 'dynamic' in deploy_config:  # the logits follow the input's size (stride 8)
                import onnxruntime
                session = onnxruntime.InferenceSession(onnx_file)
                for size in ((96, 128), (160, 224)):
                    logits = session.run(None, {'input': np.zeros((1, 3, *size), np.float32)})
                    assert logits[0].shape[-2:] == (size[0] // 8, size[1] // 8), config
            continue
        assert detections_compared(verdict, 0.0) > 0, config
        assert_post_processing_in_graph(onnx_file)
        attentions = sum(isinstance(m, LiteMLA) for m in build_backbone(arch).modules())
        picked = [n for n in onnx.load(onnx_file).graph.node
                  if is_linear_attention_layer(n.name)]
        assert sum(n.op_type == 'MatMul' for n in picked) == 2 * attentions, config
        assert not any(n.op_type == 'Conv' for n in picked), config


# The architecture grid's M4 configs (README "Architectures"), seeded weights, through
# deploy.py: task of the deploy config, options. Two-stage detectors and segmentors with 3
# classes, as in the family run above.
SMALL = {'test_pipeline.1.scale': '(320,256)'}
CASCADE_THREE_CLASSES = {f'model.roi_head.bbox_head.{i}.num_classes': 3 for i in range(3)}
SEG_THREE_CLASSES = {'model.decode_head.num_classes': 3}
GRID_EXPORTS = {
    'faster_rcnn/faster_rcnn_evit_m4_1x_coco.py': (
        'detection', dict(SMALL, **{'model.roi_head.bbox_head.num_classes': 3})),
    'cascade_rcnn/cascade_mask_rcnn_evit_m4_1x_coco.py': (
        'instance-seg', dict(SMALL, **CASCADE_THREE_CLASSES,
                             **{'model.roi_head.mask_head.num_classes': 3})),
    'fcos/fcos_evit_m4_1x_coco.py': ('detection', SMALL),
    'atss/atss_evit_m4_1x_coco.py': ('detection', SMALL),
    'gfl/gfl_evit_m4_1x_coco.py': ('detection', SMALL),
    'rtmdet/rtmdet_s_evit_m4_300e_coco.py': ('detection', {}),
    'yolox/yolox_s_evit_m4_300e_coco.py': ('detection', {}),
    'deformable_detr/deformable_detr_evit_m4_50e_coco.py': ('detection', {}),
    'dino/dino-4scale_evit_m4_12e_coco.py': ('detection', {}),
    'upernet/upernet_evit_m4_160k_ade20k.py': (
        'segmentation', dict(SEG_THREE_CLASSES, **{'model.auxiliary_head.num_classes': 3})),
    'sem_fpn/fpn_evit_m4_160k_ade20k.py': ('segmentation', SEG_THREE_CLASSES),
    'segformer/segformer_evit_m4_160k_ade20k.py': ('segmentation', SEG_THREE_CLASSES),
    'mask2former/mask2former_evit_m4_160k_ade20k.py': ('segmentation', SEG_THREE_CLASSES),
}


@pytest.mark.slow  # 13 exports, about 4 minutes
@pytest.mark.parametrize('config', list(GRID_EXPORTS))
def test_grid_architecture_exports_equal_pytorch(config, shapes_root, tmp_path):
    """The grid's other architectures through deploy.py: each exports end to end and equals
    PyTorch on seeded weights (every detection above 0, or every pixel)."""
    import torch
    from mmengine.config import Config
    from mmevit.models import build_model
    task, options = GRID_EXPORTS[config]
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    cfg.merge_from_dict(options)
    torch.manual_seed(0)
    model = build_model(cfg)
    if config.startswith('cascade_rcnn/'):
        # mask logits -3, 1 and 1 in the three stages: their mean probability (mmdet's mask)
        # is 0.503, a full mask; the sigmoid of their mean logit (mmdeploy's) 0.417, none
        for stage, logit in enumerate((-3.0, 1.0, 1.0)):
            model.roi_head.mask_head[stage].conv_logits.weight.data.zero_()
            model.roi_head.mask_head[stage].conv_logits.bias.data.fill_(logit)
    checkpoint = str(tmp_path / 'seeded.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    options = ['--cfg-options', *[f'{k}={v}' for k, v in options.items()]] if options else []
    options += ['--pixel-agreement', '1.0'] if task == 'segmentation' else ['--score-thr', '0.0']
    work = str(tmp_path / 'deploy')
    output = deploy(f'{task}_onnxruntime_dynamic.py', config, checkpoint,
                    osp.join(shapes_root, 'images', 'val', '000000.png'), work, *options)
    if task != 'segmentation':
        assert detections_compared(output, 0.0) > 0


def test_deployment_benchmark_rows(tmp_path):
    out = str(tmp_path / 'deployment.json')
    proc = subprocess.run([DEPLOY_PYTHON, osp.join(REPO_ROOT, 'tools', 'benchmark.py'),
                           '--settings', 'deployment', '--deploy-detectors', 'RetinaNet-m4',
                           '--deploy-size', '128', '160', '--det-reps', '1', '--out', out,
                           '--plot', ''], capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '| RetinaNet-m4 | 128x160 | onnxruntime |' in proc.stdout
    with open(out) as f:
        rows = json.load(f)['results']
    assert [r['form'] for r in rows] == ['eager', 'fast path', 'onnxruntime']
    assert all(r['latency_ms'] > 0 for r in rows)
