"""The embedded demo: generate the shapes dataset, train from scratch on CPU, evaluate, draw.

    python tools/demo.py                      # RetinaNet-M4, COCO bbox metrics
    python tools/demo.py --config configs/demo/fpn_evit_m4_shapes_seg.py   # mIoU

Writes ``WORK_DIR/metrics.json`` (the metrics and the wall time) and
``WORK_DIR/predictions.png`` (predictions on validation images) beside the checkpoints.
"""
import argparse
import json
import os
import os.path as osp
import time

import mmcv
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmevit  # noqa: F401  (registers the models)
import mmevit.runtime  # noqa: F401  (safe loading, atomic checkpoint writes)
from mmevit.models import task_of
from mmevit.datasets import generate_shapes_dataset

DEFAULT_CONFIG = 'configs/demo/retinanet_evit_m4_shapes.py'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', help='defaults to work_dirs/demo/<config name>')
    parser.add_argument('--data-root', default='data/shapes/')
    parser.add_argument('--num-images', type=int, default=8, help='validation images drawn')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


@torch.no_grad()
def draw_predictions(runner, task, num_images, out_file):
    """Run the trained model on the first validation images and tile the drawings."""
    dataset = runner.test_dataloader.dataset
    visualizer = runner.visualizer
    visualizer.dataset_meta = dataset.metainfo
    model = runner.model.eval()
    tiles = []
    for index in range(min(num_images, len(dataset))):
        data = runner.test_dataloader.collate_fn([dataset[index]])
        result = model.test_step(data)[0]
        image = mmcv.imread(result.img_path, channel_order='rgb')
        kwargs = dict(pred_score_thr=0.3) if task == 'detection' else {}
        visualizer.add_datasample('demo', image, result, draw_gt=True, show=False,
                                  **kwargs)
        tiles.append(visualizer.get_image())
    rows = [np.concatenate(tiles[i:i + 4], axis=1) for i in range(0, len(tiles), 4)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    mmcv.imwrite(np.concatenate(rows, axis=0), out_file, auto_mkdir=True)


def main():
    args = parse_args()
    start = time.time()
    data_root = args.data_root.rstrip('/') + '/'
    generate_shapes_dataset(data_root)

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    task = task_of(cfg)
    name = osp.splitext(osp.basename(args.config))[0]
    cfg.work_dir = args.work_dir or osp.join('work_dirs', 'demo', name)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    if task == 'detection':
        for evaluator in ('val_evaluator', 'test_evaluator'):
            cfg[evaluator].ann_file = data_root + 'annotations/instances_val.json'

    runner = Runner.from_cfg(cfg)
    runner.train()
    train_time = time.time() - start
    metrics = runner.test()
    summary = dict(config=args.config, task=task, train_wall_time_s=round(train_time, 1),
                   total_wall_time_s=round(time.time() - start, 1),
                   metrics={k: float(v) for k, v in metrics.items()})
    os.makedirs(cfg.work_dir, exist_ok=True)
    with open(osp.join(cfg.work_dir, 'metrics.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))
    draw_predictions(runner, task, args.num_images, osp.join(cfg.work_dir, 'predictions.png'))
    print(f'Predictions drawn to {osp.join(cfg.work_dir, "predictions.png")}')


if __name__ == '__main__':
    main()
