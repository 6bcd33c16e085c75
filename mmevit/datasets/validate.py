"""Checks of a config's data files, run by the tools before the Runner writes anything.

mmdet and mmseg fail late and vaguely on bad data (a KeyError deep in a worker, a JSON error
without a file name, or a silently dropped category). These checks name the file, the config
key and the offending entry instead.
"""
import json
import os.path as osp
from typing import Iterator, Sequence, Tuple

from mmengine.config import Config, ConfigDict

TRAIN_PARTS = ('train_dataloader', 'val_dataloader', 'val_evaluator')
TEST_PARTS = ('test_dataloader', 'test_evaluator')


def _datasets(cfg: Config, loaders) -> Iterator[Tuple[str, ConfigDict]]:
    for loader in loaders:
        dataset = cfg.get(loader, {}).get('dataset') if cfg.get(loader) else None
        while dataset is not None and 'dataset' in dataset:  # wrappers (RepeatDataset, ...)
            dataset = dataset['dataset']
        if dataset is not None:
            yield loader, dataset


def check_coco_file(path: str, where: str) -> dict:
    """Load a COCO annotation file, or raise naming the file and what is wrong in it."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{where}: annotation file not found: {path}')
    try:
        with open(path) as f:
            coco = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f'{where}: annotation file {path} is not valid JSON: {err}') from None
    if not isinstance(coco, dict) or not {'images', 'categories'} <= coco.keys():
        raise ValueError(f'{where}: annotation file {path} is not in COCO format: it needs '
                         f'"images" and "categories" lists')
    categories = {c['id'] for c in coco['categories']}
    images = {i['id'] for i in coco['images']}
    for ann in coco.get('annotations', []):
        if ann.get('category_id') not in categories:
            raise ValueError(
                f'{where}: annotation {ann.get("id")} in {path} has category_id '
                f'{ann.get("category_id")!r}, which is not among the file\'s categories '
                f'{sorted(categories)}')
        if ann.get('image_id') not in images:
            raise ValueError(f'{where}: annotation {ann.get("id")} in {path} refers to '
                             f'image_id {ann.get("image_id")!r}, which is not in "images"')
    return coco


def check_data_files(cfg: Config, parts: Sequence[str] = TRAIN_PARTS) -> None:
    """Check the dataset and evaluator files of the given config parts.

    Args:
        cfg (Config): A detection or segmentation config.
        parts (Sequence[str]): Dataloaders and evaluators to check: ``TRAIN_PARTS`` for
            training (validation included), ``TEST_PARTS`` for testing.
    """
    loaders = [p for p in parts if p.endswith('_dataloader')]
    for loader, dataset in _datasets(cfg, loaders):
        root = dataset.get('data_root') or ''
        ann_file = dataset.get('ann_file')
        if ann_file and str(ann_file).endswith('.json'):
            coco = check_coco_file(osp.join(root, ann_file), f'{loader}.dataset.ann_file')
            names = (dataset.get('metainfo') or {}).get('classes')
            if names:
                known = {c['name'] for c in coco['categories']}
                unknown = [n for n in names if n not in known]
                if unknown:
                    raise ValueError(
                        f'{loader}.dataset.metainfo.classes names {unknown}, which '
                        f'{osp.join(root, ann_file)} does not define (it has {sorted(known)})')
        for key, folder in (dataset.get('data_prefix') or {}).items():
            path = osp.join(root, folder)
            if folder and not osp.isdir(path):
                raise FileNotFoundError(f'{loader}.dataset.data_prefix.{key}: folder not '
                                        f'found: {path}')
    for name in (p for p in parts if p.endswith('_evaluator')):
        evaluators = cfg.get(name)
        for evaluator in evaluators if isinstance(evaluators, list) else [evaluators]:
            if evaluator and evaluator.get('ann_file'):
                check_coco_file(evaluator['ann_file'], f'{name}.ann_file')
