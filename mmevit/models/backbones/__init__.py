from .efficientvit_b import EfficientViTB
from .efficientvit_m import EfficientViT, EfficientViTM

__all__ = ['EfficientViTM', 'EfficientViT', 'EfficientViTB']
