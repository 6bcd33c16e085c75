"""Checks of a config's data files, run by the tools before the Runner writes anything.

mmdet and mmseg fail late and vaguely on bad data (a KeyError deep in a worker, a JSON error
without a file name, a silently dropped category, an image that does not decode, a label
outside the classes). These checks name the file, the config key and the offending entry
instead: COCO annotation files; every image (a readable header of a known format, the size
the annotation file gives, at most :data:`MAX_IMAGE_PIXELS`); and every segmentation label
map (its size that of its image, its values classes or the ignore index), read by a pool of
threads.
"""
import json
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config, ConfigDict
from PIL import Image

TRAIN_PARTS = ('train_dataloader', 'val_dataloader', 'val_evaluator')
TEST_PARTS = ('test_dataloader', 'test_evaluator')
#: Largest accepted image (width x height): a guard against decompression bombs, far above
#: the data sets here (Cityscapes: 2 megapixels).
MAX_IMAGE_PIXELS = 100_000_000


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


def image_size(path: str, where: str, max_pixels: int = MAX_IMAGE_PIXELS) -> Tuple[int, int]:
    """``(width, height)`` from an image file's header, or an error naming the file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{where}: image not found: {path}')
    try:
        with Image.open(path) as image:
            size = image.size
            image.verify()  # the container's own checks (PNG chunk CRCs), no decoding
    except Exception as err:  # PIL raises many types for unreadable files
        raise ValueError(f'{where}: {path} is not a readable image: {err}') from None
    if size[0] * size[1] > max_pixels:
        raise ValueError(f'{where}: {path} has {size[0]}x{size[1]} pixels, more than the '
                         f'limit of {max_pixels} (mmevit.datasets.validate.MAX_IMAGE_PIXELS)')
    return size


def _map_threads(function, items) -> None:
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for _ in pool.map(function, items):
            pass


def check_coco_images(coco: dict, img_dir: str, where: str, ann_file: str,
                      max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Every image a COCO file lists: readable, of the size the file gives, within limits."""
    def check(image):
        path = osp.join(img_dir, image['file_name'])
        width, height = image_size(path, where, max_pixels)
        if (image.get('width', width), image.get('height', height)) != (width, height):
            raise ValueError(f'{where}: {path} is {width}x{height}, but {ann_file} gives image '
                             f'{image.get("id")} as {image.get("width")}x{image.get("height")}')
    _map_threads(check, coco['images'])


def check_segmentation_files(dataset: ConfigDict, where: str,
                             max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Every image and label map of an mmseg dataset config, as mmseg lists them: readable
    images within limits, label maps of their image's size whose values are classes or the
    ignore index (labels 1..N and 0 ignored where ``reduce_zero_label`` is set)."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = dict(dataset, pipeline=[], serialize_data=False, lazy_init=False)
    try:
        with DefaultScope.overwrite_default_scope('mmseg'):
            built = DATASETS.build(cfg)
    except (FileNotFoundError, OSError, ValueError) as err:
        raise type(err)(f'{where}: {err}') from None
    num_classes = len(built.metainfo['classes'])
    for info in built.data_list:
        label_map = info.get('label_map')
        if info.get('reduce_zero_label'):
            valid = set(range(num_classes + 1)) | {255}
        elif label_map:
            valid = set(label_map) | {built.ignore_index}
        else:
            valid = set(range(num_classes)) | {built.ignore_index}
        info['valid_labels'] = valid

    def check(info):
        size = image_size(info['img_path'], where, max_pixels)
        path = info.get('seg_map_path')
        if path is None:
            return
        if not osp.isfile(path):
            raise FileNotFoundError(f'{where}: label map not found: {path} (for '
                                    f'{info["img_path"]})')
        try:
            with Image.open(path) as image:
                labels = np.asarray(image)
        except Exception as err:
            raise ValueError(f'{where}: {path} is not a readable label map: {err}') from None
        if labels.shape[:2] != size[::-1]:
            raise ValueError(f'{where}: {path} is {labels.shape[1]}x{labels.shape[0]}, its '
                             f'image {info["img_path"]} {size[0]}x{size[1]}')
        unknown = sorted(set(np.unique(labels).tolist()) - info['valid_labels'])
        if unknown:
            raise ValueError(f'{where}: {path} has labels {unknown[:10]} outside the '
                             f'{num_classes} classes (valid: {_ranges(info["valid_labels"])})')
    _map_threads(check, built.data_list)


def _ranges(values) -> str:
    values = sorted(values)
    runs, start = [], values[0]
    for prev, value in zip(values, values[1:] + [None]):
        if value is None or value != prev + 1:
            runs.append(f'{start}' if start == prev else f'{start}-{prev}')
            start = value
    return ', '.join(runs)


def check_data_files(cfg: Config, parts: Sequence[str] = TRAIN_PARTS,
                     max_pixels: Optional[int] = None) -> None:
    """Check the dataset and evaluator files of the given config parts.

    Args:
        cfg (Config): A detection or segmentation config.
        parts (Sequence[str]): Dataloaders and evaluators to check: ``TRAIN_PARTS`` for
            training (validation included), ``TEST_PARTS`` for testing.
        max_pixels (int, optional): Largest accepted image. Defaults to
            :data:`MAX_IMAGE_PIXELS`.
    """
    max_pixels = max_pixels or MAX_IMAGE_PIXELS
    loaders = [p for p in parts if p.endswith('_dataloader')]
    for loader, dataset in _datasets(cfg, loaders):
        root = dataset.get('data_root') or ''
        for key, folder in (dataset.get('data_prefix') or {}).items():
            path = osp.join(root, folder)
            if folder and not osp.isdir(path):
                raise FileNotFoundError(f'{loader}.dataset.data_prefix.{key}: folder not '
                                        f'found: {path}')
        ann_file = dataset.get('ann_file')
        if ann_file and str(ann_file).endswith('.json'):
            path = osp.join(root, ann_file)
            coco = check_coco_file(path, f'{loader}.dataset.ann_file')
            names = (dataset.get('metainfo') or {}).get('classes')
            if names:
                known = {c['name'] for c in coco['categories']}
                unknown = [n for n in names if n not in known]
                if unknown:
                    raise ValueError(
                        f'{loader}.dataset.metainfo.classes names {unknown}, which '
                        f'{path} does not define (it has {sorted(known)})')
            img_dir = osp.join(root, (dataset.get('data_prefix') or {}).get('img', ''))
            check_coco_images(coco, img_dir, f'{loader}.dataset', path, max_pixels)
        elif cfg.get('default_scope') == 'mmseg':
            check_segmentation_files(dataset, f'{loader}.dataset', max_pixels)
    for name in (p for p in parts if p.endswith('_evaluator')):
        evaluators = cfg.get(name)
        for evaluator in evaluators if isinstance(evaluators, list) else [evaluators]:
            if evaluator and evaluator.get('ann_file'):
                check_coco_file(evaluator['ann_file'], f'{name}.ann_file')
