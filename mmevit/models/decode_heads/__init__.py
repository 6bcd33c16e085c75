from .efficientvit_seg_head import EfficientViTSegHead

__all__ = ['EfficientViTSegHead']
