from .shapes import generate_shapes_dataset
from .transforms import ResizeShortSide
from .validate import TEST_PARTS, TRAIN_PARTS, check_coco_file, check_data_files

__all__ = ['generate_shapes_dataset', 'ResizeShortSide', 'check_coco_file', 'check_data_files',
           'TRAIN_PARTS', 'TEST_PARTS']
