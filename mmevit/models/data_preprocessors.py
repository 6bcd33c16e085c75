"""Batches of a few fixed shapes, for compiled models and CUDA graphs: the preprocessor, and
the shapes a config's pipelines need (:func:`fixed_batch_shapes`)."""
from typing import List, Optional, Sequence, Tuple

import torch.nn.functional as F
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmengine.config import Config

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


def fixed_batch_shapes(cfg: Config) -> List[Tuple[int, int]]:
    """``(height, width)`` shapes that hold every batch the config's resizing steps make.

    For each ``Resize``, ``RandomResize`` or ``RandomChoiceResize`` of the data pipelines
    that keeps the aspect ratio, images end within (long, short) of its largest scale, as
    landscape or portrait: both orientations are listed, padded to the data preprocessor's
    ``pad_size_divisor``. A fixed-size resize adds its own shape. Empty when the pipelines
    resize nothing.
    """
    divisor = cfg.model.data_preprocessor.get('pad_size_divisor', 1)
    up = lambda n: -(-int(n) // divisor) * divisor  # noqa: E731
    shapes = set()
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset')
        while dataset is not None and 'dataset' in dataset:  # RepeatDataset, ...
            dataset = dataset['dataset']
        for step in (dataset or {}).get('pipeline', []):
            if step['type'] not in ('Resize', 'RandomResize', 'RandomChoiceResize'):
                continue
            scales = step.get('scales') or step['scale']
            scales = [scales] if isinstance(scales[0], (int, float)) else scales
            ratio = max(step.get('ratio_range') or (1, ))
            long = max(max(s) for s in scales) * ratio
            short = max(min(s) for s in scales) * ratio
            if step.get('keep_ratio', False):
                shapes |= {(up(short), up(long)), (up(long), up(short))}
            else:  # mmdet's scales are (width, height)
                shapes |= {(up(h * ratio), up(w * ratio)) for w, h in scales}
    return sorted(shapes)
