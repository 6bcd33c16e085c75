"""Data transforms of the EfficientViT authors' evaluation protocols."""
import math

import mmcv
from mmcv.transforms import BaseTransform

from mmevit.registry import register_transform


@register_transform
class ResizeShortSide(BaseTransform):
    """Resize the image so that its short side is ``short_side`` and its long side the aspect
    ratio's length rounded up to a multiple of ``size_divisor``: MIT's ADE20K evaluation of
    EfficientViT (``applications/efficientvit_seg/eval_efficientvit_seg_model.py``).

    The target size is computed as the authors do, ``ceil(long / short * short_side /
    size_divisor) * size_divisor``, and the uint8 image is resized with OpenCV (bicubic by
    default) only when its size changes. Square images become ``short_side`` squared. Labels
    are not resized: predictions are scaled back to the original size instead (see
    :class:`~mmevit.models.EfficientViTSegHead`'s ``test_resize``).

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``. Added keys:
    ``scale_factor`` (w, h), ``keep_ratio``.

    Args:
        short_side (int): Target of the shorter side. Defaults to 512.
        size_divisor (int): The longer side becomes a multiple of it. Defaults to 32.
        interpolation (str): mmcv/OpenCV interpolation. Defaults to ``'bicubic'``.
    """

    def __init__(self, short_side: int = 512, size_divisor: int = 32,
                 interpolation: str = 'bicubic'):
        if short_side < 1 or size_divisor < 1:
            raise ValueError(f'short_side and size_divisor must be positive, got '
                             f'{short_side} and {size_divisor}')
        self.short_side = short_side
        self.size_divisor = size_divisor
        self.interpolation = interpolation

    def target_size(self, height: int, width: int):
        """(height, width) after the resize."""
        if height < width:
            th = self.short_side
            tw = math.ceil(width / height * th / self.size_divisor) * self.size_divisor
        else:
            tw = self.short_side
            th = math.ceil(height / width * tw / self.size_divisor) * self.size_divisor
        return th, tw

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        th, tw = self.target_size(h, w)
        if (th, tw) != (h, w):
            img = mmcv.imresize(img, (tw, th), interpolation=self.interpolation)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['scale_factor'] = (tw / w, th / h)
        results['keep_ratio'] = True
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(short_side={self.short_side}, size_divisor='
                f'{self.size_divisor}, interpolation={self.interpolation!r})')
