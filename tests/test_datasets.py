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
