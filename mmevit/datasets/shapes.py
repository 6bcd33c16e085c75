"""A small, deterministic dataset of coloured shapes: COCO instances and semantic label maps.

It stands in for COCO/ADE20K where those are not at hand (tests, the README's demo): images
hold 1-4 filled circles, squares and triangles of random colours and sizes on a noisy
background. It is written as

    ROOT/images/{train,val}/000000.png
    ROOT/annotations/instances_{train,val}.json   (COCO: boxes, polygons, areas)
    ROOT/seg_maps/{train,val}/000000.png          (0 = background, 1.. = class)

Same arguments, same bytes.
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

CLASSES = ('circle', 'square', 'triangle')
SPLITS = ('train', 'val')


def _shape_polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    if kind == 'circle':
        t = np.linspace(0, 2 * math.pi, 32, endpoint=False)
    elif kind == 'square':
        t = angle + np.arange(4) * math.pi / 2 + math.pi / 4
    else:
        t = angle + np.arange(3) * 2 * math.pi / 3 - math.pi / 2
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def _render_image(rng: np.random.Generator, size: Tuple[int, int], max_shapes: int):
    w, h = size
    background = rng.integers(0, 80, 3)
    image = np.clip(background + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    label = np.zeros((h, w), np.uint8)
    instances = []
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        cls = int(rng.integers(len(CLASSES)))
        r = float(rng.uniform(0.08, 0.2) * min(w, h))
        cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
        poly = _shape_polygon(CLASSES[cls], cx, cy, r, float(rng.uniform(0, 2 * math.pi)))
        pts = np.round(poly).astype(np.int32)
        colour = [int(c) for c in rng.integers(110, 256, 3)]
        cv2.fillPoly(image, [pts], colour)
        cv2.fillPoly(label, [pts], cls + 1)
        instances.append((cls, pts))
    # later shapes may hide earlier ones: recompute what stays visible from the label map
    visible = []
    for index, (cls, pts) in enumerate(instances):
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [pts], 1)
        for _, later in instances[index + 1:]:
            cv2.fillPoly(mask, [later], 0)
        if mask.sum() >= 16:
            visible.append((cls, mask))
    return image, label, visible


def _coco_annotation(mask: np.ndarray) -> Dict:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    ys, xs = np.nonzero(mask)
    x0, y0 = float(xs.min()), float(ys.min())
    return dict(segmentation=polygons, area=float(mask.sum()), iscrowd=0,
                bbox=[x0, y0, float(xs.max()) + 1 - x0, float(ys.max()) + 1 - y0])


def generate_shapes_dataset(root: str, num_train: int = 400, num_val: int = 100,
                            image_size: Tuple[int, int] = (160, 128), max_shapes: int = 3,
                            seed: int = 0) -> Dict[str, str]:
    """Write the dataset under ``root`` (skipped when an identical one is already there).

    Args:
        root (str): Output folder.
        num_train (int): Training images.
        num_val (int): Validation images.
        image_size (tuple[int, int]): Width and height.
        max_shapes (int): Most shapes per image.
        seed (int): Seed of the generator; the split seeds derive from it.

    Returns:
        dict[str, str]: The annotation file of each split.
    """
    settings = dict(num_train=num_train, num_val=num_val, image_size=list(image_size),
                    max_shapes=max_shapes, seed=seed, classes=list(CLASSES))
    stamp = osp.join(root, 'settings.json')
    ann_files = {s: osp.join(root, 'annotations', f'instances_{s}.json') for s in SPLITS}
    if osp.isfile(stamp) and all(osp.isfile(f) for f in ann_files.values()):
        with open(stamp) as f:
            if json.load(f) == settings:
                return ann_files
    for sub in ('images', 'seg_maps'):
        for split in SPLITS:
            os.makedirs(osp.join(root, sub, split), exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)

    counts = dict(train=num_train, val=num_val)
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, split_index])
        images: List[Dict] = []
        annotations: List[Dict] = []
        for image_id in range(counts[split]):
            image, label, visible = _render_image(rng, image_size, max_shapes)
            name = f'{image_id:06d}.png'
            cv2.imwrite(osp.join(root, 'images', split, name), image)
            cv2.imwrite(osp.join(root, 'seg_maps', split, name), label)
            images.append(dict(id=image_id, file_name=name, width=image_size[0],
                               height=image_size[1]))
            for cls, mask in visible:
                annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                        category_id=cls + 1, **_coco_annotation(mask)))
        coco = dict(images=images, annotations=annotations,
                    categories=[dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)])
        tmp = ann_files[split] + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(coco, f)
        os.replace(tmp, ann_files[split])
    with open(stamp, 'w') as f:
        json.dump(settings, f)
    return ann_files
