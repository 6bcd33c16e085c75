"""What mmdeploy 1.3.1 (December 2023, the last release) needs from current torch and where
its exports differ from mmdet, in one place, applied only around its exports.

- torch 2.9+ exports ONNX with the dynamo exporter by default; mmdeploy's rewriters patch the
  TorchScript-based exporter (they replace functions while ``torch.onnx.export`` traces), so
  its exports must run with ``dynamo=False``;
- its RoIAlign symbolic (Mask R-CNN) imports ``torch.onnx.symbolic_opset9._cast_Long``, which
  torch has since removed: a cast to int64.

:func:`torchscript_onnx_export` provides both inside a ``with`` block and restores torch
afterwards. :func:`mmdet_post_processing` replaces, for the same block, the rewriters through
which mmdeploy's detectors differ from mmdet's: one-stage heads (boxes clipped to zero size,
the ``nms_pre`` choice, score factors, per-class caps), YOLOX's (every class of an anchor, a
cap), the RPN (NMS across levels, objectness threshold), the box head (one box per RoI) and
the cascade's masks (mean logits).
:func:`mmseg_logits_export` ends segmentors exported without argmax at their head's logits,
from which the backend model makes label maps as mmseg does inside :func:`mmseg_label_maps`
(mmdeploy's takes the argmax before resizing to the image, mmseg after).
``tools/deployment/deploy.py`` wraps mmdeploy's ``torch2onnx`` in the three
(:func:`mmdeploy_export`), its TensorRT conversion in
:func:`tensorrt_linear_attention_in_fp32` (mmdeploy has no per-layer precision setting), the
backend models in :func:`mmseg_label_maps`, and the PyTorch model it compares with in
:func:`pytorch_nms_ties_by_index` (NMS ties broken as ONNX breaks them).
"""
import contextlib
import functools
import importlib
import re
from types import SimpleNamespace
from typing import Iterator

import torch
import torch.nn.functional as F

_ONNX_INT64 = 7  # onnx.TensorProto.INT64


def _cast_long(g, input, non_blocking):
    """``Cast`` to int64, as torch's removed ``_cast_Long`` symbolic helper built it."""
    return g.op('Cast', input, to_i=_ONNX_INT64)


@contextlib.contextmanager
def torchscript_onnx_export() -> Iterator[None]:
    """Inside the block, ``torch.onnx.export(...)`` means ``torch.onnx.export(...,
    dynamo=False)`` unless the caller passes ``dynamo`` itself, and
    ``symbolic_opset9._cast_Long`` exists."""
    original = torch.onnx.export

    @functools.wraps(original)
    def export(*args, **kwargs):
        kwargs.setdefault('dynamo', False)
        return original(*args, **kwargs)

    # the module mmdeploy imports from (torch.onnx's attribute is another object)
    symbolic_opset9 = importlib.import_module('torch.onnx.symbolic_opset9')
    added_cast = not hasattr(symbolic_opset9, '_cast_Long')
    torch.onnx.export = export
    if added_cast:
        symbolic_opset9._cast_Long = _cast_long
    try:
        yield
    finally:
        torch.onnx.export = original
        if added_cast:
            del symbolic_opset9._cast_Long


# The score threshold of NMS over scores of which those dropped before are -1 and the others
# sigmoids (or their products), positive: mmcv's eager NMS filters only above a positive
# threshold, ONNX's above any
_ABOVE_DROPPED = float(torch.finfo(torch.float32).tiny)


def _scored_in_own_group(scores, group_ids, num_groups):
    """Scores ``(B, N, 1)`` of boxes in groups ``(N, )`` (their pyramid levels, or the class
    of a (RoI, class) pair) as ``(B, N, num_groups)``: a box scores in its own group only, -1
    (below any threshold) in the others, so that a multi-class NMS runs within each group."""
    groups = torch.arange(num_groups, device=scores.device, dtype=group_ids.dtype)
    return torch.where(group_ids[:, None] == groups, scores, scores.new_tensor(-1.0))


# ONNX's NonMaxSuppression keeps at most this many boxes of each class: "all of them"
_UNCAPPED = 2**31 - 1


def _nms_capped_per_image(bboxes, scores, nms_cfg, score_thr, max_per_img):
    """mmdeploy's multi-class NMS as mmdet caps it: the image's detections at
    ``max_per_img`` (None: not at all), neither each class's nor the boxes NMS sees
    (mmdeploy's deploy configs set ``max_output_boxes_per_class`` 200 and ``pre_top_k``
    5000)."""
    from mmdeploy.mmcv.ops import multiclass_nms
    return multiclass_nms(bboxes, scores, max_per_img or _UNCAPPED,
                          nms_type=nms_cfg.get('type', 'nms'),
                          iou_threshold=nms_cfg.iou_threshold, score_threshold=score_thr,
                          pre_top_k=-1, keep_top_k=max_per_img or -1)


def _level_ids(cls_scores, num_base_priors, nms_pre):
    """The pyramid level of each box mmdeploy's dense-head decoding gives: each level's best
    min(nms_pre, anchors) boxes (all with nms_pre <= 0), level by level. Built from the
    predictions' shapes, so that the graph holds no anchor count."""
    level_ids = []
    for level, cls_score in enumerate(cls_scores):
        anchors = cls_score[0, :num_base_priors].flatten()
        level_ids.append(torch.zeros_like(anchors[:nms_pre] if nms_pre > 0 else anchors) + level)
    return torch.cat(level_ids).long()


def _without_small_boxes(bboxes, scores, cfg):
    """Scores ``(B, N, K)`` with -1 (below any threshold) for the boxes ``(B, N, 4)`` that
    mmdet's ``min_bbox_size`` filter drops: not wider and higher than it (with its usual 0,
    the boxes clipping at the image border has flattened)."""
    if cfg.get('min_bbox_size', -1) < 0:
        return scores
    sizes = bboxes[..., 2:] - bboxes[..., :2]
    return torch.where((sizes > cfg.min_bbox_size).all(-1, keepdim=True), scores,
                       scores.new_tensor(-1.0))


DENSE_HEAD_PREDICT = ('mmdet.models.dense_heads.base_dense_head.BaseDenseHead'
                      '.predict_by_feat')
# mmdet's RTMDet head predicts as BaseDenseHead does; mmdeploy's own RTMDet rewriter neither
# clips boxes to the image nor keeps nms_pre
RTMDET_HEAD_PREDICT = 'mmdet.models.dense_heads.rtmdet_head.RTMDetHead.predict_by_feat'


def _factors_of_decoded_anchors(self, cls_scores, score_factors, nms_pre):
    """The score factors ``(B, N, 1)`` of the anchors mmdeploy's dense-head decoding keeps
    when given no factors: each level's ``nms_pre`` anchors of the best class scores, picked
    by the same operations (so that onnxruntime picks the same ones)."""
    from mmdeploy.codebase.mmdet.deploy import gather_topk, pad_with_value_if_necessary
    batch_size = cls_scores[0].shape[0]
    kept = []
    for cls_score, factors in zip(cls_scores, score_factors):
        scores = cls_score.permute(0, 2, 3, 1).reshape(batch_size, -1,
                                                       self.cls_out_channels).sigmoid()
        factors = factors.permute(0, 2, 3, 1).reshape(batch_size, -1, 1).sigmoid()
        if nms_pre > 0:
            scores = pad_with_value_if_necessary(scores, 1, nms_pre, 0.)
            factors = pad_with_value_if_necessary(factors, 1, nms_pre, 0.)
            _, inds = scores.max(-1)[0].topk(nms_pre)
            factors = gather_topk(factors, inds=inds, batch_size=batch_size, is_batched=True)
        kept.append(factors)
    return torch.cat(kept, 1)


def dense_head_predict_as_mmdet(self, cls_scores, bbox_preds, score_factors=None,
                                batch_img_metas=None, cfg=None, rescale=False, with_nms=True,
                                **kwargs):
    """mmdeploy's export of a one-stage head (RetinaNet, FCOS, ATSS...) with mmdet's choice of
    boxes before NMS, where mmdeploy's differs:

    - ``min_bbox_size``: mmdet drops the boxes not wider and higher than it (with its usual
      0, those clipping to the image has flattened); mmdeploy keeps them;
    - ``nms_pre``: mmdet keeps each level's ``nms_pre`` best (anchor, class) pairs, mmdeploy
      every class of its ``nms_pre`` best anchors, which hold those pairs and lower ones; so
      the pairs below each level's ``nms_pre``-th best class score are dropped here;
    - score factors (FCOS's and ATSS's centerness): mmdet thresholds and ranks the class
      scores and multiplies the kept ones by the factors, mmdeploy thresholds and ranks the
      products; here the anchors are decoded without factors and the factors of the same
      anchors multiply the kept pairs' scores;
    - caps: mmdet caps only the image's detections (``max_per_img``), mmdeploy also each
      class's (``max_output_boxes_per_class``) and the boxes NMS sees (``pre_top_k``).

    Softmax heads keep mmdeploy's ``nms_pre`` choice (it leaves their last class out of its
    ranking), and with it its handling of score factors. Like mmdeploy's, it reads the head's
    own ``test_cfg`` and sizes boxes in the network's input pixels (mmdet: after rescaling to
    the image, the same for its usual 0)."""
    from mmdeploy.codebase.mmdet.models.dense_heads import base_dense_head
    from mmdeploy.core import FUNCTION_REWRITER

    ctx = FUNCTION_REWRITER.get_context()
    as_mmdet = self.use_sigmoid_cls and with_nms
    decoded = _call_with_context(base_dense_head.base_dense_head__predict_by_feat, ctx, self,
                                 cls_scores, bbox_preds, None if as_mmdet else score_factors,
                                 batch_img_metas, cfg, rescale, False)
    if not with_nms:
        return decoded
    bboxes, scores = decoded
    cfg = self.test_cfg
    score_thr = cfg.get('score_thr', 0)
    nms_pre = cfg.get('nms_pre', -1)
    if not as_mmdet:
        return _nms_capped_per_image(bboxes, _without_small_boxes(bboxes, scores, cfg), cfg.nms,
                                     score_thr, cfg.max_per_img)
    kept = scores > score_thr
    if nms_pre > 0:
        # each level's nms_pre-th best class score among all its (anchor, class) pairs, from
        # the head's outputs: mmdeploy's decoding returns only the anchors it kept. (A level
        # with fewer pairs: mmdeploy's rewriter of topk clamps k to their count.)
        batch_size = scores.shape[0]
        kth = [cls_score.permute(0, 2, 3, 1).reshape(batch_size, -1).sigmoid()
               .topk(nms_pre, dim=1)[0][:, -1:] for cls_score in cls_scores]
        kth = torch.cat(kth, 1)[:, _level_ids(cls_scores, self.num_base_priors, nms_pre)]
        # pairs tied with the nms_pre-th stay, where mmdet cuts among them
        kept = kept & (scores >= kth[..., None])
    if score_factors is not None:
        scores = scores * _factors_of_decoded_anchors(self, cls_scores, score_factors, nms_pre)
    scores = torch.where(kept, scores, scores.new_tensor(-1.0))
    return _nms_capped_per_image(bboxes, _without_small_boxes(bboxes, scores, cfg), cfg.nms,
                                 _ABOVE_DROPPED, cfg.max_per_img)


YOLOX_HEAD_PREDICT = 'mmdet.models.dense_heads.yolox_head.YOLOXHead.predict_by_feat'


def yolox_head_predict_as_mmdet(self, cls_scores, bbox_preds, objectnesses,
                                batch_img_metas=None, cfg=None, rescale=False, with_nms=True):
    """mmdeploy's YOLOX export (its decoding) with mmdet's choice of detections: each
    anchor's top class only, scored at least ``score_thr`` (class score times objectness),
    and no cap unless the config sets ``max_per_img`` (mmdet's YOLOX configs do not).
    mmdeploy's keeps every class of an anchor above the threshold and caps each class's
    detections at 200 and the image's at 100."""
    from mmdeploy.codebase.mmdet.models.dense_heads import yolox_head
    from mmdeploy.core import FUNCTION_REWRITER

    ctx = FUNCTION_REWRITER.get_context()
    decoded = _call_with_context(yolox_head.yolox_head__predict_by_feat, ctx, self, cls_scores,
                                 bbox_preds, objectnesses, batch_img_metas, cfg, rescale,
                                 False)
    if not with_nms:
        return decoded
    bboxes, scores = decoded  # every (anchor, class) pair: class score times objectness
    cfg = self.test_cfg if cfg is None else cfg
    # the first of the top classes, as torch.max and ONNX's ArgMax take it
    top_class = scores.argmax(-1, keepdim=True)
    classes = torch.arange(scores.shape[-1], device=scores.device)
    kept = (classes == top_class) & (scores >= cfg.score_thr)
    scores = torch.where(kept, scores, scores.new_tensor(-1.0))
    return _nms_capped_per_image(bboxes, scores, cfg.nms, _ABOVE_DROPPED,
                                 cfg.get('max_per_img'))


RPN_PREDICT = 'mmdet.models.dense_heads.rpn_head.RPNHead.predict_by_feat'


def rpn_proposals_per_level(self, cls_scores, bbox_preds, score_factors=None,
                            batch_img_metas=None, cfg=None, rescale=False, with_nms=True,
                            **kwargs):
    """mmdeploy's RPN export (its decoding) with mmdet's choice of proposals: NMS within each
    level (the levels as NMS classes) and no objectness threshold, where mmdeploy suppresses
    across levels and drops objectness below the deploy config's score threshold."""
    from mmdeploy.codebase.mmdet.models.dense_heads import rpn_head
    from mmdeploy.core import FUNCTION_REWRITER

    ctx = FUNCTION_REWRITER.get_context()
    cfg = self.test_cfg if cfg is None else cfg
    nms_pre = cfg.get('nms_pre', -1)
    decode = rpn_head.rpn_head__predict_by_feat
    if not with_nms:
        return _call_with_context(decode, ctx, self, cls_scores, bbox_preds, score_factors,
                                  batch_img_metas, cfg, rescale, with_nms)
    bboxes, scores = _call_with_context(decode, ctx, self, cls_scores, bbox_preds,
                                        score_factors, batch_img_metas, cfg, rescale, False)
    level_ids = _level_ids(cls_scores, self.num_base_priors, nms_pre)
    level_scores = _scored_in_own_group(_without_small_boxes(bboxes, scores, cfg), level_ids,
                                        len(cls_scores))
    return _nms_capped_per_image(bboxes, level_scores, cfg.nms, _ABOVE_DROPPED,
                                 cfg.max_per_img)


BBOX_HEAD_PREDICT = 'mmdet.models.roi_heads.bbox_heads.bbox_head.BBoxHead.predict_by_feat'


def bbox_head_predict_per_class(self, rois, cls_scores, bbox_preds, batch_img_metas,
                                rcnn_test_cfg=None, rescale=False):
    """The detections of a class-specific box head as mmdet makes them, for mmdeploy's export.

    mmdeploy 1.3.1's rewriter keeps for each RoI only the box of its highest-scoring class and
    gives it to every class; mmdet decodes one box per class and runs NMS per class on those.
    Here every (RoI, class) pair is a box of its own, scored in its class only (-1, below any
    threshold, in the others), and ONNX's per-class NMS keeps what mmdet's does. Class-agnostic
    heads, custom classifiers and heads without regression go to mmdeploy's rewriter.
    """
    from mmdeploy.codebase.mmdet.models.roi_heads import bbox_head as mmdeploy_bbox_head
    from mmdeploy.core import FUNCTION_REWRITER
    from mmdet.structures.bbox import get_box_tensor

    ctx = FUNCTION_REWRITER.get_context()
    if self.reg_class_agnostic or self.custom_cls_channels or bbox_preds is None:
        return _call_with_context(mmdeploy_bbox_head.bbox_head__predict_by_feat, ctx, self, rois,
                                  cls_scores, bbox_preds, batch_img_metas, rcnn_test_cfg,
                                  rescale)
    num_classes = self.num_classes
    scores = F.softmax(cls_scores, dim=-1)[..., :num_classes]  # (B, N, C), background dropped
    bboxes = get_box_tensor(self.bbox_coder.decode(
        rois[..., 1:], bbox_preds, max_shape=batch_img_metas[0]['img_shape']))  # (B, N, C*4)
    batch_size = scores.shape[0]
    # the class of each (RoI, class) pair, by broadcasting: no RoI count in the graph
    pair_class = (torch.zeros_like(scores[0], dtype=torch.long)
                  + torch.arange(num_classes, device=scores.device)).flatten()
    pair_scores = _scored_in_own_group(scores.reshape(batch_size, -1, 1), pair_class,
                                       num_classes)  # (B, N*C, C)
    return _nms_capped_per_image(bboxes.reshape(batch_size, -1, self.bbox_coder.encode_size),
                                 pair_scores, rcnn_test_cfg.nms, rcnn_test_cfg.score_thr,
                                 rcnn_test_cfg.max_per_img)


CASCADE_PREDICT_MASK = 'mmdet.models.roi_heads.cascade_roi_head.CascadeRoIHead.predict_mask'


def cascade_masks_from_mean_probabilities(self, x, batch_img_metas, results_list,
                                          rescale=False):
    """A cascade's masks as mmdet makes them: the mean of the stages' mask probabilities,
    where mmdeploy 1.3.1 averages their logits (``sigmoid(mean(logits))`` is another mask).
    mmdeploy's mask-head rewriter takes logits, so it gets the mean probability's logit."""
    dets, labels = results_list
    batch_size, num_dets = dets.shape[:2]
    image_index = torch.arange(batch_size, device=dets.device, dtype=dets.dtype)
    rois = torch.cat([image_index.view(-1, 1, 1).expand(batch_size, num_dets, 1),
                      dets[..., :4]], -1).view(-1, 5)
    probabilities = sum(self._mask_forward(stage, x, rois)['mask_preds'].sigmoid()
                        for stage in range(self.num_stages)) / self.num_stages
    logits = torch.log(probabilities) - torch.log1p(-probabilities)
    masks = self.mask_head[-1].predict_by_feat(logits, results_list, batch_img_metas,
                                               self.test_cfg, rescale=rescale)
    return dets, labels, masks.reshape(batch_size, num_dets, *masks.shape[-2:])


def _adaptive_pooling_matrix(size, output_size: int, like: torch.Tensor) -> torch.Tensor:
    """``(output_size, size)``: row i averages adaptive pooling's bin i, the inputs from
    ``floor(i * size / output_size)`` to ``ceil((i + 1) * size / output_size)`` (excluded).
    ``size`` may be traced (a dynamic export's), so that the bins follow the input."""
    bins = torch.arange(output_size, device=like.device)
    start = bins * size // output_size
    end = ((bins + 1) * size + output_size - 1) // output_size
    inputs = torch.arange(size, device=like.device)
    inside = (inputs >= start[:, None]) & (inputs < end[:, None])
    return inside.to(like.dtype) / (end - start)[:, None].to(like.dtype)


def adaptive_average_by_bins(input: torch.Tensor, output_size) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(input, output_size)`` as two matrix products over the bins,
    which ONNX exports for any input size (a dynamic export's bins follow its input)."""
    from torch.nn.modules.utils import _pair
    height, width = input.shape[-2:]
    output_height, output_width = (size if size is not None else full for size, full in
                                   zip(_pair(output_size), (height, width)))
    rows = _adaptive_pooling_matrix(height, int(output_height), input)
    columns = _adaptive_pooling_matrix(width, int(output_width), input)
    return rows @ input @ columns.transpose(0, 1)


ADAPTIVE_AVG_POOL2D = 'torch.nn.functional.adaptive_avg_pool2d'


def adaptive_avg_pool2d_by_bins(input, output_size):
    """mmdeploy's export of ``adaptive_avg_pool2d`` as PyTorch computes it
    (:func:`adaptive_average_by_bins`; a 1x1 output stays a global pool). mmdeploy's
    rewriter exports an average pool whose kernel and stride are the export image's size over
    the output size, rounded down: other bins where that does not divide (UPerNet's pooling
    scales 3 and 6 of a 16x20 feature map), other output sizes for other inputs."""
    from mmdeploy.core import FUNCTION_REWRITER
    from torch.nn.modules.utils import _pair
    if all(size == 1 for size in _pair(output_size)):
        return FUNCTION_REWRITER.get_context().origin_func(input, output_size)
    return adaptive_average_by_bins(input, output_size)


SEGMENTOR_PREDICT = 'mmseg.models.segmentors.EncoderDecoder.predict'


def _ends_at_head_logits(segmentor_cls, head) -> bool:
    """Whether an export without argmax ends at the decode head's own logits
    (:func:`segmentor_logits_before_resizing`): encoder-decoders whose head predicts as
    mmseg's base head does (``forward``, then ``predict_by_feat``) with more than one channel
    (one channel: mmdeploy thresholds in the graph)."""
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    from mmseg.models.segmentors import EncoderDecoder
    return (segmentor_cls.predict is EncoderDecoder.predict
            and type(head).predict is BaseDecodeHead.predict and head.out_channels > 1)


def segmentor_logits_before_resizing(self, inputs, data_samples, **kwargs):
    """mmdeploy's export of an encoder-decoder which, with ``with_argmax=False``, ends at the
    decode head's logits, before the head resizes them: mmseg resizes them to the input and
    then to the image, or EfficientViT's head once to the image, whose size the graph cannot
    know (a trace fixes it for every input). :func:`mmseg_label_maps` makes the label maps
    from them as mmseg does. With the argmax in the graph, mmdeploy's (the labels at the
    input's size, which its backend model resizes to the image: at region borders they
    differ from mmseg's where the test pipeline resizes the image)."""
    from mmdeploy.codebase.mmseg.models.segmentors import encoder_decoder
    from mmdeploy.core import FUNCTION_REWRITER
    from mmdeploy.utils import get_codebase_config

    ctx = FUNCTION_REWRITER.get_context()
    if (get_codebase_config(ctx.cfg).get('with_argmax', True)
            or not _ends_at_head_logits(type(self), self.decode_head)):
        return _call_with_context(encoder_decoder.encoder_decoder__predict, ctx, self, inputs,
                                  data_samples)
    return self.decode_head(self.extract_feat(inputs))


def _call_with_context(rewriter, ctx, *args):
    """Call one of mmdeploy's rewriters from ours: it finds its deploy config through the
    rewriter contexts, which hold ours while ours replaces it, so it borrows ours."""
    from mmdeploy.core import FUNCTION_REWRITER
    from mmdeploy.core.rewriters.rewriter_utils import ContextCaller, get_func_qualname
    contexts = FUNCTION_REWRITER._func_contexts[get_func_qualname(rewriter)]
    contexts.append(ContextCaller(rewriter, ctx.origin_func, ctx.cfg))
    try:
        return rewriter(*args)
    finally:
        contexts.pop()


@contextlib.contextmanager
def mmdet_post_processing() -> Iterator[None]:
    """Inside the block, mmdeploy exports detectors for onnxruntime with mmdet's
    post-processing: :func:`dense_head_predict_as_mmdet`, :func:`yolox_head_predict_as_mmdet`,
    :func:`rpn_proposals_per_level`, :func:`bbox_head_predict_per_class` and
    :func:`cascade_masks_from_mean_probabilities` in place of its one-stage head (and RTMDet
    head), YOLOX head, RPN, box-head and cascade-mask rewriters (a backend's rewriter takes
    precedence over mmdeploy's default one); removed afterwards.
    onnxruntime only: for TensorRT, mmdeploy pads every level of a dense head (RPN or
    one-stage) to ``nms_pre`` boxes, which the level ids here do not follow."""
    from mmdeploy.core import FUNCTION_REWRITER
    rewriters = {DENSE_HEAD_PREDICT: dense_head_predict_as_mmdet,
                 RTMDET_HEAD_PREDICT: dense_head_predict_as_mmdet,
                 YOLOX_HEAD_PREDICT: yolox_head_predict_as_mmdet,
                 BBOX_HEAD_PREDICT: bbox_head_predict_per_class,
                 CASCADE_PREDICT_MASK: cascade_masks_from_mean_probabilities,
                 RPN_PREDICT: rpn_proposals_per_level}
    for name, rewriter in rewriters.items():
        FUNCTION_REWRITER.register_rewriter(name, backend='onnxruntime')(rewriter)
    try:
        yield
    finally:
        for rewriter in rewriters.values():
            FUNCTION_REWRITER._registry.remove_record(rewriter)


@contextlib.contextmanager
def mmseg_logits_export() -> Iterator[None]:
    """Inside the block, mmdeploy exports encoder-decoders through
    :func:`segmentor_logits_before_resizing` and adaptive average pooling through
    :func:`adaptive_avg_pool2d_by_bins` (onnxruntime and TensorRT); removed afterwards."""
    from mmdeploy.core import FUNCTION_REWRITER
    rewriters = {SEGMENTOR_PREDICT: segmentor_logits_before_resizing,
                 ADAPTIVE_AVG_POOL2D: adaptive_avg_pool2d_by_bins}
    for name, rewriter in rewriters.items():
        for backend in ('onnxruntime', 'tensorrt'):
            FUNCTION_REWRITER.register_rewriter(name, backend=backend)(rewriter)
    try:
        yield
    finally:
        for rewriter in rewriters.values():
            FUNCTION_REWRITER._registry.remove_record(rewriter)


@contextlib.contextmanager
def mmdeploy_export() -> Iterator[None]:
    """What mmdeploy's ``torch2onnx`` runs inside in mmevit (``tools/deployment/deploy.py``,
    the deployment benchmark): :func:`torchscript_onnx_export`,
    :func:`mmdet_post_processing` and :func:`mmseg_logits_export`."""
    with torchscript_onnx_export(), mmdet_post_processing(), mmseg_logits_export():
        yield


@contextlib.contextmanager
def mmseg_label_maps(model_cfg) -> Iterator[None]:
    """Inside the block, mmdeploy's segmentation backend models of exports without argmax
    make label maps from the graph's logits as the PyTorch segmentor of ``model_cfg`` does:
    from the head's own logits (:func:`segmentor_logits_before_resizing`), its decode head's
    ``predict_by_feat`` (the head built from the config; it reads only the head's settings);
    then, and for other heads' logits at the input's size (e.g. Mask2Former's), mmseg's
    ``postprocess_result`` (padding removed, flips undone, logits resized to the image,
    argmax). mmdeploy's own takes the argmax first and resizes the labels; it stays for
    exports with the argmax in the graph and one-channel heads (thresholded in the graph)."""
    from mmdeploy.codebase.mmseg.deploy.segmentation_model import End2EndModel
    from mmdeploy.utils import get_codebase_config
    from mmengine.registry import DefaultScope
    from mmseg.models.segmentors import BaseSegmentor
    from mmseg.registry import MODELS

    with DefaultScope.overwrite_default_scope('mmseg'):
        head = MODELS.build(model_cfg.model.decode_head).eval()
        segmentor_cls = MODELS.get(model_cfg.model.type)
    # postprocess_result reads the segmentor's align_corners and decode head, nothing else
    segmentor = SimpleNamespace(align_corners=head.align_corners, decode_head=head)
    original = End2EndModel.pack_result

    @functools.wraps(original)
    def pack_result(self, batch_outputs, data_samples):
        if (get_codebase_config(self.deploy_cfg).get('with_argmax', True)
                or head.out_channels == 1):
            return original(self, batch_outputs, data_samples)
        if _ends_at_head_logits(segmentor_cls, head):
            batch_outputs = head.predict_by_feat(batch_outputs,
                                                 [s.metainfo for s in data_samples])
        return BaseSegmentor.postprocess_result(segmentor, batch_outputs, data_samples)

    End2EndModel.pack_result = pack_result
    try:
        yield
    finally:
        End2EndModel.pack_result = original


def nms_ties_by_index(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
                      offset: int = 0, score_threshold: float = 0, max_num: int = -1):
    """mmcv's ``nms`` with exactly equal scores taken in index order, as ONNX's
    NonMaxSuppression takes them; mmcv's kernels sort scores unstably, which leaves ties in an
    order of the sort's own. Same arguments and returns as ``mmcv.ops.nms``, tensors only."""
    from mmcv.ops import nms
    order = scores.sort(descending=True, stable=True)[1]
    if score_threshold > 0:
        order = order[scores[order] > score_threshold]
    # distinct scores in that order, so that mmcv's kernel cannot reorder them (float32: exact
    # up to 2**24 boxes)
    ranks = torch.arange(len(order), 0, -1, dtype=torch.float32, device=boxes.device)
    _, kept = nms(boxes[order].float(), ranks, iou_threshold, offset, 0, max_num)
    inds = order[kept]
    return torch.cat([boxes[inds], scores[inds, None]], 1), inds


@contextlib.contextmanager
def pytorch_nms_ties_by_index() -> Iterator[None]:
    """Inside the block, mmcv's ``batched_nms`` (mmdet's NMS) runs
    :func:`nms_ties_by_index`: a PyTorch model then keeps, among boxes of exactly equal scores,
    the ones an exported model's NonMaxSuppression keeps. Weakly trained detectors give such
    ties (RoIs whose features a ReLU zeroes all score alike). Not covered: with 10000 boxes or
    more, ``batched_nms`` runs class by class and sorts what they keep unstably, so ties at
    the ``max_per_img`` cut can still fall otherwise than in ONNX's TopK."""
    nms_module = importlib.import_module('mmcv.ops.nms')  # batched_nms looks ``nms`` up here
    original = nms_module.nms
    nms_module.nms = nms_ties_by_index
    try:
        yield
    finally:
        nms_module.nms = original


# TensorRT's ONNX parser names its layers after the ONNX nodes, which the TorchScript exporter
# names after module paths: LiteMLA's attention is what the LiteMLA (``main`` of a
# LiteMLABlock's ``context_module``) computes outside its convolutions (qkv, proj, and the
# aggregations ``aggreg.0``, ``aggreg.1``..., hence no slash after ``aggreg``).
_LINEAR_ATTENTION_LAYER = re.compile(r'/context_module/main/(?!qkv/|aggreg|proj/)')


def is_linear_attention_layer(name: str) -> bool:
    """Whether an ONNX node or TensorRT layer of that name computes LiteMLA's attention."""
    return _LINEAR_ATTENTION_LAYER.search(name) is not None


@contextlib.contextmanager
def tensorrt_linear_attention_in_fp32() -> Iterator[None]:
    """Inside the block, fp16 TensorRT engines are built to keep LiteMLA's attention in fp32,
    as mmevit's PyTorch path does under autocast: its normaliser overflows in fp16
    (mit-han-lab/efficientvit issue 116). mmdeploy 1.3.1 builds engines without a per-layer
    precision setting, so the builder pins, just before building, the float layers
    :func:`is_linear_attention_layer` names (and asks TensorRT to obey that). Not yet run on
    TensorRT (8.2+ API: ``OBEY_PRECISION_CONSTRAINTS``); layers the ONNX parser adds under
    other names stay unpinned, which an engine inspector would show."""
    import tensorrt as trt
    original = trt.Builder.build_serialized_network

    @functools.wraps(original)
    def build_serialized_network(builder, network, config):
        if config.get_flag(trt.BuilderFlag.FP16):
            for index in range(network.num_layers):
                layer = network.get_layer(index)
                outputs = [layer.get_output(i) for i in range(layer.num_outputs)]
                if (is_linear_attention_layer(layer.name)
                        and all(t.dtype == trt.float32 for t in outputs)):
                    layer.precision = trt.float32
                    for i in range(layer.num_outputs):
                        layer.set_output_type(i, trt.float32)
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        return original(builder, network, config)

    trt.Builder.build_serialized_network = build_serialized_network
    try:
        yield
    finally:
        trt.Builder.build_serialized_network = original
