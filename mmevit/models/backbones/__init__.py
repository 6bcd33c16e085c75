from .efficientvit_mit import EfficientViTB, EfficientViTL
from .efficientvit_msra import EfficientViT, EfficientViTM

__all__ = ['EfficientViTM', 'EfficientViT', 'EfficientViTB', 'EfficientViTL']
