"""Draw a model's predictions on one image.

    python tools/image_demo.py IMAGE CONFIG CHECKPOINT --out result.png [--score-thr 0.3]

Detection configs draw boxes (and masks), segmentation configs draw the label map.
"""
import argparse
import os.path as osp

import mmcv
from mmengine.config import Config, DictAction

import mmevit.runtime  # noqa: F401  (safe checkpoint loading, by path or URL)
from mmevit.cli import setup_compile
from mmevit.models import task_of
from mmevit.deploy import accelerate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--score-thr', type=float, default=0.3, help='detection score threshold')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--compile', action='store_true',
                        help='the fast path compiled (torch.compile; CUDA graphs on GPUs)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value pairs')
    args = parser.parse_args()
    for path in (args.image, args.config, args.checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'File not found: {path}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.model.backbone.init_cfg = None  # the checkpoint holds every weight
    if args.compile:
        setup_compile(cfg)  # fixed batch shapes
    image = mmcv.imread(args.image, channel_order='rgb')

    if task_of(cfg) == 'detection':
        from mmdet.apis import inference_detector as inference
        from mmdet.apis import init_detector as init
        from mmdet.registry import VISUALIZERS
        extra = dict(pred_score_thr=args.score_thr)
    else:
        from mmseg.apis import inference_model as inference
        from mmseg.apis import init_model as init
        from mmseg.registry import VISUALIZERS
        extra = {}
    model = init(cfg, args.checkpoint, device=args.device)
    if args.compile:
        accelerate(model)
    result = inference(model, args.image)
    visualizer = VISUALIZERS.build(cfg.visualizer)
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample('result', image, result, draw_gt=False, show=False,
                              out_file=args.out, **extra)
    print(f'Drew {osp.basename(args.image)} to {args.out}')


if __name__ == '__main__':
    main()
