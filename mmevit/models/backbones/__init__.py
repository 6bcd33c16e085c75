from .efficientvit_m import EfficientViT

__all__ = ['EfficientViT']
