from .backbones import EfficientViT, EfficientViTB, EfficientViTL, EfficientViTM
from .builder import ARCHS, backbone_class, build_backbone
from .data_preprocessors import FixedShapeDetDataPreprocessor
from .decode_heads import EfficientViTSegHead
from .necks import EfficientViTFPN

__all__ = ['EfficientViTM', 'EfficientViT', 'EfficientViTB', 'EfficientViTL', 'EfficientViTFPN',
           'EfficientViTSegHead', 'FixedShapeDetDataPreprocessor', 'ARCHS', 'backbone_class',
           'build_backbone']
