from .shapes import generate_shapes_dataset
from .validate import TEST_PARTS, TRAIN_PARTS, check_coco_file, check_data_files

__all__ = ['generate_shapes_dataset', 'check_coco_file', 'check_data_files', 'TRAIN_PARTS',
           'TEST_PARTS']
