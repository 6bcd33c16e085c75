from .efficientvit_b import EfficientViTB
from .efficientvit_m import EfficientViT

__all__ = ['EfficientViT', 'EfficientViTB']
