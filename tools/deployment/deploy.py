"""A detector or segmentor, config + checkpoint, to a backend model through mmdeploy, checked
against PyTorch on an image.

    make deploy-venv   # once: .venv-deploy with mmdeploy 1.3.1 (requirements-deploy.txt)
    .venv-deploy/bin/python tools/deployment/deploy.py \\
        configs/deploy/detection_onnxruntime_static.py configs/retinanet_evit_m4_1x.py \\
        CHECKPOINT IMAGE --work-dir work_dirs/deploy/retinanet_m4

Writes ``end2end.onnx`` (and, for TensorRT deploy configs, ``end2end.engine``, whose fp16 form
is built to keep LiteMLA's attention in fp32) to the work dir, then runs the backend model and
the PyTorch model on IMAGE through mmdeploy's task processor (the same pre- and post-processing
as ``tools/test.py``) and compares them: detections above ``--score-thr`` (same labels, scores
within ``--score-tol``, boxes within ``--box-tol`` pixels, each with a counterpart of its own in
any order; masks by IoU of at least ``--mask-iou``, two empty masks agreeing) or label maps
(share of equal pixels at least ``--pixel-agreement``). With ``--eval`` both models are also
evaluated on the model config's test set (``test_dataloader`` and ``test_evaluator``, as
``tools/test.py`` does) and every metric must agree within ``--metric-tol``. The last line says
what was compared; the exit code is 1 when they differ or when nothing was compared (no
detection above the threshold, no metric). The ONNX export runs with torch's TorchScript
exporter, which mmdeploy's rewriters need, and mmevit's rewriters of mmdet's post-processing
(:func:`mmevit.deploy.mmdeploy_compat.mmdeploy_export`); a segmentor's backend model makes its
label maps from the graph's logits as mmseg does
(:func:`~mmevit.deploy.mmdeploy_compat.mmseg_label_maps`). The PyTorch model's NMS takes boxes of
exactly equal scores in index order, as ONNX's NonMaxSuppression does
(:func:`~mmevit.deploy.mmdeploy_compat.pytorch_nms_ties_by_index`; mmcv's own sort leaves them
in an order of its own, and weakly trained Mask R-CNNs score many RoIs exactly alike).
"""
import argparse
import contextlib
import copy
import os
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

import mmevit  # noqa: F401  (registers the models)
import mmevit.runtime  # noqa: F401  (safe checkpoint loading, by path or URL)
from mmevit.deploy.mmdeploy_compat import (mmdeploy_export, mmseg_label_maps,
                                           pytorch_nms_ties_by_index,
                                           tensorrt_linear_attention_in_fp32)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('deploy_config', help='mmdeploy deploy config (configs/deploy/)')
    parser.add_argument('model_config', help='detection or segmentation config')
    parser.add_argument('checkpoint', help='checkpoint path or URL')
    parser.add_argument('image', help='image to check the backend model on')
    parser.add_argument('--work-dir', required=True, help='where the backend files go')
    parser.add_argument('--device', default='cpu', help='cpu, or cuda for TensorRT')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detections compared: those scoring above this')
    parser.add_argument('--score-tol', type=float, default=1e-3)
    parser.add_argument('--box-tol', type=float, default=1.0, help='pixels')
    parser.add_argument('--mask-iou', type=float, default=0.9,
                        help='instance masks: least IoU with PyTorch\'s')
    parser.add_argument('--pixel-agreement', type=float, default=0.999,
                        help='segmentation: least share of equal pixels (ties may flip)')
    parser.add_argument('--eval', action='store_true',
                        help='also evaluate both models on the test set and compare the metrics')
    parser.add_argument('--metric-tol', type=float, default=1e-3,
                        help='relative, and absolute for metrics below 1 (COCO AP)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override model config settings, e.g. data roots')
    return parser.parse_args()


def to_backend(args, deploy_cfg, model_cfg) -> list:
    """The backend files of the deploy config: ONNX, then the TensorRT engine if asked."""
    from mmdeploy.apis import torch2onnx
    from mmdeploy.utils import get_backend, get_ir_config
    os.makedirs(args.work_dir, exist_ok=True)
    onnx_file = get_ir_config(deploy_cfg)['save_file']
    with mmdeploy_export():
        torch2onnx(args.image, args.work_dir, onnx_file, deploy_cfg, model_cfg, args.checkpoint,
                   args.device)
    files = [osp.join(args.work_dir, onnx_file)]
    if get_backend(deploy_cfg).value == 'tensorrt':
        from mmdeploy.apis.utils import to_backend as convert
        with tensorrt_linear_attention_in_fp32():
            files = convert(get_backend(deploy_cfg), files, args.work_dir, deploy_cfg,
                            device=args.device)
    return files


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """IoU of two boolean masks; two empty masks agree (1)."""
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else 1.0


def compare_detections(backend, pytorch, args) -> tuple:
    """(detections of the backend above the score threshold with a counterpart of their own in
    PyTorch's, the two counts, the worst mask IoU among the matched ones)."""
    ours, theirs = (p.pred_instances[p.pred_instances.scores > args.score_thr]
                    for p in (backend, pytorch))
    with_masks = 'masks' in ours and 'masks' in theirs
    taken = torch.zeros(len(theirs), dtype=torch.bool)
    matched, worst_iou = 0, 1.0
    for i in range(len(ours)):
        close = ((theirs.labels == ours.labels[i])
                 & ((theirs.scores - ours.scores[i]).abs() <= args.score_tol)
                 & ((theirs.bboxes - ours.bboxes[i]).abs() <= args.box_tol).all(1) & ~taken)
        candidates = torch.nonzero(close)[:, 0].tolist()
        if not candidates:
            continue
        iou, j = 1.0, candidates[0]
        if with_masks:
            a = torch.as_tensor(ours.masks[i]).bool()
            iou, j = max((mask_iou(a, torch.as_tensor(theirs.masks[j]).bool()), j)
                         for j in candidates)
        taken[j] = True
        matched += 1
        worst_iou = min(worst_iou, iou)
    return matched, len(ours), len(theirs), worst_iou


def evaluate(model, model_cfg, input_shape) -> dict:
    """The metrics of ``model`` on the model config's test set. A static-shape backend model
    sees its images resized (and padded) to ``input_shape`` as mmdeploy's input pipeline makes
    them (``process_model_config`` of its mmdet task processor, which would also drop the
    annotations the evaluation needs; mmseg's sets Resize only)."""
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(model_cfg.test_dataloader)
    if input_shape is not None:
        for transform in loader_cfg.dataset.pipeline:
            if transform.type == 'Resize':
                transform.update(scale=tuple(input_shape), keep_ratio=False)
            elif transform.type == 'Pad' and 'size' in transform:  # e.g. RTMDet's
                transform.update(size=tuple(input_shape))
    with DefaultScope.overwrite_default_scope(model_cfg.default_scope):
        loader = Runner.build_dataloader(loader_cfg)
        evaluator = Evaluator(copy.deepcopy(model_cfg.test_evaluator))
        evaluator.dataset_meta = loader.dataset.metainfo
        with torch.no_grad():
            for data in loader:
                evaluator.process(data_samples=model.test_step(data), data_batch=data)
        return evaluator.evaluate(len(loader.dataset))


def differing_metrics(backend: dict, pytorch: dict, tol: float) -> list:
    """The names of the metrics that differ by more than ``tol`` (relative; absolute below 1)."""
    differing = []
    for name, value in pytorch.items():
        other = backend.get(name)
        if isinstance(value, (int, float)) and isinstance(other, (int, float)):
            same = abs(other - value) <= tol * max(abs(value), 1.0)
        else:
            same = other == value
        if not same:
            differing.append(name)
    return differing


def check_detections(backend, pytorch, args) -> tuple:
    """(what was compared, the problem or '') for two ``DetDataSample``s of one image."""
    matched, count, expected, worst_iou = compare_detections(backend, pytorch, args)
    summary = (f'{matched} of {count} detections above {args.score_thr} match PyTorch\'s '
               f'{expected}')
    if max(count, expected) == 0:
        return summary, (f'no detection above {args.score_thr} in either model: nothing to '
                         'compare (lower --score-thr or take another image)')
    if not matched == count == expected:
        return summary, summary
    if worst_iou < args.mask_iou:
        return summary, f'a matched detection\'s mask overlaps PyTorch\'s by IoU {worst_iou:.3f}'
    return summary, ''


def check_label_maps(backend, pytorch, args) -> tuple:
    """(what was compared, the problem or '') for two ``SegDataSample``s of one image."""
    a, b = (r.pred_sem_seg.data for r in (backend, pytorch))
    agreement = float((a == b).float().mean()) if a.shape == b.shape else 0.0
    problem = ('' if agreement >= args.pixel_agreement else
               f'{agreement:.4%} of the pixels equal PyTorch\'s')
    return f'label map equals PyTorch\'s on {agreement:.4%} of the pixels', problem


def check_metrics(backend: dict, pytorch: dict, tol: float) -> str:
    """The problem with two test-set evaluations, or ''."""
    if not pytorch:
        return ('the test set gave no metrics (mmdet\'s COCO metric gives none when no image '
                'has a detection): nothing to compare')
    differing = differing_metrics(backend, pytorch, tol)
    if differing:
        return f'test-set metrics differ from PyTorch\'s: {", ".join(differing)}'
    return ''


def main():
    args = parse_args()
    from mmdeploy.apis.utils import build_task_processor
    from mmdeploy.utils import get_codebase, get_input_shape, load_config
    deploy_cfg, model_cfg = load_config(args.deploy_config, args.model_config)
    if args.cfg_options:
        model_cfg.merge_from_dict(args.cfg_options)
    files = to_backend(args, deploy_cfg, model_cfg)
    processor = build_task_processor(model_cfg, deploy_cfg, args.device)
    backend = processor.build_backend_model(files)
    pytorch = processor.build_pytorch_model(args.checkpoint)
    data, _ = processor.create_input(args.image, get_input_shape(deploy_cfg))
    label_maps = (mmseg_label_maps(model_cfg) if get_codebase(deploy_cfg).value == 'mmseg'
                  else contextlib.nullcontext())
    with pytorch_nms_ties_by_index(), label_maps:
        with torch.no_grad():
            results = [model.test_step(data)[0] for model in (backend, pytorch)]
        metrics = [evaluate(model, model_cfg, get_input_shape(deploy_cfg))
                   for model in (backend, pytorch)] if args.eval else None
    check = check_detections if 'pred_instances' in results[0] else check_label_maps
    summary, problem = check(*results, args)
    if args.eval:
        print('| metric | backend | PyTorch |\n|---|---|---|')
        for name, value in metrics[1].items():
            print(f'| {name} | {metrics[0].get(name)} | {value} |')
        problem = problem or check_metrics(*metrics, args.metric_tol)
        summary += f'; {len(metrics[1])} test-set metrics equal PyTorch\'s'
    if problem:
        print(f'{files[-1]}: MISMATCH: {problem}')
        sys.exit(1)
    print(f'{files[-1]}: {summary}')


if __name__ == '__main__':
    main()
