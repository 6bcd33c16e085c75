"""The generated shapes data set and the checks of annotation files."""
import json
import os.path as osp

import pytest

from conftest import rewrite_annotations
from mmevit.datasets import check_coco_file, generate_shapes_dataset


def test_shapes_dataset_is_deterministic(tmp_path):
    a = generate_shapes_dataset(str(tmp_path / 'a'), num_train=3, num_val=2, seed=3)
    b = generate_shapes_dataset(str(tmp_path / 'b'), num_train=3, num_val=2, seed=3)
    for split in ('train', 'val'):
        with open(a[split]) as fa, open(b[split]) as fb:
            coco = json.load(fa)
            assert coco == json.load(fb)
        assert coco['annotations'] and all(ann['area'] > 0 for ann in coco['annotations'])
        for image in coco['images']:
            name = image['file_name']
            for sub in ('images', 'seg_maps'):
                with open(tmp_path / 'a' / sub / split / name, 'rb') as fa, \
                        open(tmp_path / 'b' / sub / split / name, 'rb') as fb:
                    assert fa.read() == fb.read()


def test_corrupt_annotation_file_names_it(own_shapes_root):
    path = osp.join(own_shapes_root, 'annotations', 'instances_train.json')
    with open(path, 'r+') as f:
        f.truncate(100)
    with pytest.raises(ValueError, match=f'annotation file {path} is not valid JSON'):
        check_coco_file(path, 'train_dataloader.dataset.ann_file')


def test_unknown_category_id_names_annotation(own_shapes_root):
    def edit(coco):
        coco['annotations'][0]['category_id'] = 99
    path = rewrite_annotations(own_shapes_root, edit)
    with pytest.raises(ValueError) as err:
        check_coco_file(path, 'train_dataloader.dataset.ann_file')
    assert f"annotation 1 in {path} has category_id 99, which is not among the file's " \
           'categories [1, 2, 3]' in str(err.value)


def _config(name, root):
    from mmengine.config import Config
    from conftest import REPO_ROOT
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'demo', name))
    for loader in ('train', 'val', 'test'):
        cfg[f'{loader}_dataloader'].dataset.data_root = root
    for evaluator in ('val_evaluator', 'test_evaluator'):
        if 'ann_file' in cfg[evaluator]:
            cfg[evaluator].ann_file = root + 'annotations/instances_val.json'
    return cfg


def test_images_are_checked_against_their_annotations(own_shapes_root):
    import numpy as np
    from PIL import Image
    from mmevit.datasets import check_data_files
    cfg = _config('retinanet_evit_m4_shapes.py', own_shapes_root)
    check_data_files(cfg)
    image = osp.join(own_shapes_root, 'images', 'train', '000001.png')
    Image.fromarray(np.zeros((100, 90, 3), np.uint8)).save(image)
    with pytest.raises(ValueError, match=f'{image} is 90x100, but .*instances_train.json gives '
                                         f'image 1 as 160x128'):
        check_data_files(cfg)
    Image.fromarray(np.zeros((128, 160, 3), np.uint8)).save(image)
    with pytest.raises(ValueError, match='000.png has 160x128 pixels, more than the limit of '
                                         '10000'):
        check_data_files(cfg, max_pixels=10_000)


def test_segmentation_labels_outside_the_classes_are_named(own_shapes_root):
    import numpy as np
    from PIL import Image
    from mmevit.datasets import check_data_files
    cfg = _config('fpn_evit_m4_shapes_seg.py', own_shapes_root)
    check_data_files(cfg)
    label_map = osp.join(own_shapes_root, 'seg_maps', 'val', '000002.png')
    labels = np.asarray(Image.open(label_map)).copy()
    labels[0, :3] = [7, 9, 255]  # 255: the ignore index, allowed
    Image.fromarray(labels).save(label_map)
    with pytest.raises(ValueError, match=f'val_dataloader.dataset: {label_map} has labels '
                                         r'\[7, 9\] outside the 4 classes \(valid: 0-3, 255\)'):
        check_data_files(cfg)
    Image.fromarray(labels[:64]).save(label_map)
    with pytest.raises(ValueError, match=f'{label_map} is 160x64, its image .* 160x128'):
        check_data_files(cfg)
