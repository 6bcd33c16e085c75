from .backbones import EfficientViT, EfficientViTB, EfficientViTL, EfficientViTM
from .builder import ARCHS, TASKS, backbone_class, build_backbone, build_model, task_of
from .data_preprocessors import FixedShapeDetDataPreprocessor, fixed_batch_shapes
from .decode_heads import EfficientViTSegHead
from .necks import EfficientViTFPN

__all__ = ['EfficientViTM', 'EfficientViT', 'EfficientViTB', 'EfficientViTL', 'EfficientViTFPN',
           'EfficientViTSegHead', 'FixedShapeDetDataPreprocessor', 'fixed_batch_shapes', 'ARCHS',
           'TASKS', 'backbone_class', 'build_backbone', 'build_model', 'task_of']
