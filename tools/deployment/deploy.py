"""A detector or segmentor, config + checkpoint, to a backend model through mmdeploy, checked
against PyTorch on an image.

    make deploy-venv   # once: .venv-deploy with mmdeploy 1.3.1 (requirements-deploy.txt)
    .venv-deploy/bin/python tools/deployment/deploy.py \\
        configs/deploy/detection_onnxruntime_static.py configs/retinanet_evit_m4_1x.py \\
        CHECKPOINT IMAGE --work-dir work_dirs/deploy/retinanet_m4

Writes ``end2end.onnx`` (and, for TensorRT deploy configs, ``end2end.engine``) to the work
dir, then runs the backend model and the PyTorch model on IMAGE through mmdeploy's task
processor (the same pre- and post-processing as ``tools/test.py``) and compares them:
detections above ``--score-thr`` (same labels, scores within ``--score-tol``, boxes within
``--box-tol`` pixels, matched in any order; masks by IoU of at least ``--mask-iou``) or label
maps (share of equal pixels at least
``--pixel-agreement``). The last line says what was compared; the exit code is 1 when they
differ. The ONNX export runs with torch's TorchScript exporter, which mmdeploy's rewriters
need (:func:`mmevit.deploy.mmdeploy_compat.torchscript_onnx_export`).
"""
import argparse
import os
import os.path as osp
import sys

import torch

import mmevit  # noqa: F401  (registers the models)
import mmevit.runtime  # noqa: F401  (safe checkpoint loading, by path or URL)
from mmevit.deploy.mmdeploy_compat import torchscript_onnx_export


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
    return parser.parse_args()


def to_backend(args, deploy_cfg, model_cfg) -> list:
    """The backend files of the deploy config: ONNX, then the TensorRT engine if asked."""
    from mmdeploy.apis import torch2onnx
    from mmdeploy.utils import get_backend, get_ir_config
    os.makedirs(args.work_dir, exist_ok=True)
    onnx_file = get_ir_config(deploy_cfg)['save_file']
    with torchscript_onnx_export():
        torch2onnx(args.image, args.work_dir, onnx_file, deploy_cfg, model_cfg, args.checkpoint,
                   args.device)
    files = [osp.join(args.work_dir, onnx_file)]
    if get_backend(deploy_cfg).value == 'tensorrt':
        from mmdeploy.apis.utils import to_backend as convert
        files = convert(get_backend(deploy_cfg), files, args.work_dir, deploy_cfg,
                        device=args.device)
    return files


def matched_detections(backend, pytorch, args) -> str:
    """'' when the detections above the score threshold agree, else what differs."""
    ours, theirs = (p.pred_instances[p.pred_instances.scores > args.score_thr]
                    for p in (backend, pytorch))
    if len(ours) != len(theirs):
        return f'{len(ours)} detections above {args.score_thr} against PyTorch\'s {len(theirs)}'
    for i in range(len(ours)):
        close = ((theirs.labels == ours.labels[i])
                 & ((theirs.scores - ours.scores[i]).abs() <= args.score_tol)
                 & ((theirs.bboxes - ours.bboxes[i]).abs() <= args.box_tol).all(1))
        if not close.any():
            return (f'detection {ours.bboxes[i].tolist()} (label {int(ours.labels[i])}, score '
                    f'{float(ours.scores[i]):.4f}) has no counterpart in PyTorch\'s')
        if 'masks' in ours and 'masks' in theirs:
            a = torch.as_tensor(ours.masks[i]).bool()
            iou = max(float((a & b).sum() / (a | b).sum().clamp(min=1))
                      for b in torch.as_tensor(theirs.masks)[close].bool())
            if iou < args.mask_iou:
                return f'the mask of detection {i} overlaps PyTorch\'s by IoU {iou:.3f}'
    return ''


def main():
    args = parse_args()
    from mmdeploy.apis.utils import build_task_processor
    from mmdeploy.utils import get_input_shape, load_config
    deploy_cfg, model_cfg = load_config(args.deploy_config, args.model_config)
    files = to_backend(args, deploy_cfg, model_cfg)
    processor = build_task_processor(model_cfg, deploy_cfg, args.device)
    backend = processor.build_backend_model(files)
    pytorch = processor.build_pytorch_model(args.checkpoint)
    data, _ = processor.create_input(args.image, get_input_shape(deploy_cfg))
    with torch.no_grad():
        results = [model.test_step(data)[0] for model in (backend, pytorch)]
    if 'pred_instances' in results[0]:
        problem = matched_detections(*results, args)
        count = int((results[1].pred_instances.scores > args.score_thr).sum())
        summary = f'{count} detections above {args.score_thr} equal PyTorch\'s'
    else:
        a, b = (r.pred_sem_seg.data for r in results)
        agreement = float((a == b).float().mean()) if a.shape == b.shape else 0.0
        problem = ('' if agreement >= args.pixel_agreement else
                   f'{agreement:.4%} of the pixels equal PyTorch\'s')
        summary = f'label map equals PyTorch\'s on {agreement:.4%} of the pixels'
    if problem:
        print(f'{files[-1]}: MISMATCH: {problem}')
        sys.exit(1)
    print(f'{files[-1]}: {summary}')


if __name__ == '__main__':
    main()
