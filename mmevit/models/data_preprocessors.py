"""Batches of a few fixed shapes, for compiled models and CUDA graphs."""
from typing import Optional, Sequence, Tuple

import torch.nn.functional as F
from mmdet.models.data_preprocessors import DetDataPreprocessor

from mmevit.registry import register_model


@register_model
class FixedShapeDetDataPreprocessor(DetDataPreprocessor):
    """mmdet's ``DetDataPreprocessor`` that pads every batch further, to the smallest of
    ``batch_shapes`` that holds it.

    mmdet pads a batch only to a multiple of ``pad_size_divisor``, so COCO's images reach the
    model in hundreds of shapes; a compiled model specialises (and a CUDA graph is recorded)
    per shape. With ``batch_shapes=[(800, 1344), (1344, 800)]`` every landscape and every
    portrait COCO batch (``Resize`` to 1333x800, keep ratio) has one shape. The extra
    padding is ``pad_value`` after normalisation, as mmdet's own padding; boxes, image
    shapes and scale factors are unchanged, ``batch_input_shape`` is the padded shape, and
    ground-truth masks and semantic maps are padded along when ``pad_mask``/``pad_seg`` ask
    for it. A batch larger than every shape keeps mmdet's padding.

    Args:
        batch_shapes (Sequence[tuple[int, int]], optional): ``(height, width)`` shapes.
            None pads as ``DetDataPreprocessor`` does. Defaults to None.
        **kwargs: The arguments of :class:`mmdet.models.data_preprocessors.DetDataPreprocessor`.
    """

    def __init__(self, batch_shapes: Optional[Sequence[Sequence[int]]] = None, **kwargs):
        super().__init__(**kwargs)
        shapes = [tuple(int(s) for s in shape) for shape in (batch_shapes or [])]
        bad = [s for s in shapes if len(s) != 2 or min(s) < 1 or any(
            d % self.pad_size_divisor for d in s)]
        if bad:
            raise ValueError(f'batch_shapes must be (height, width) pairs of positive '
                             f'multiples of pad_size_divisor={self.pad_size_divisor}, got '
                             f'{bad}')
        self.batch_shapes = sorted(shapes, key=lambda s: (s[0] * s[1], s))

    def batch_shape_for(self, height: int, width: int) -> Optional[Tuple[int, int]]:
        """The smallest of ``batch_shapes`` that holds a ``height`` x ``width`` batch."""
        return next((s for s in self.batch_shapes if s[0] >= height and s[1] >= width), None)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        inputs, data_samples = data['inputs'], data['data_samples']
        height, width = inputs.shape[-2:]
        shape = self.batch_shape_for(height, width)
        if shape is None or shape == (height, width):
            return data
        inputs = F.pad(inputs, (0, shape[1] - width, 0, shape[0] - height),
                       value=self.pad_value)
        if data_samples is not None:
            for data_sample in data_samples:
                data_sample.set_metainfo({'batch_input_shape': shape})
            if self.pad_mask and training:
                self.pad_gt_masks(data_samples)  # to the new batch_input_shape
            if self.pad_seg and training:
                self.pad_gt_sem_seg(data_samples)
        return {'inputs': inputs, 'data_samples': data_samples}
