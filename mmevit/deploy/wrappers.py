"""One-argument views of whole models (tracing, ONNX, FLOP counting) and output comparison."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn

Tensors = Union[torch.Tensor, Sequence['Tensors']]


def flatten(outputs: Tensors) -> List[torch.Tensor]:
    """Tensors of a nested tuple/list in order (the ONNX graph's outputs)."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for item in outputs for t in flatten(item)]


def max_relative_error(outputs: List[torch.Tensor], expected: List[torch.Tensor]) -> float:
    """Largest ``max|a - b| / max|b|`` over paired tensors."""
    return max(float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-12))
               for a, b in zip(outputs, expected))


class FlatOutputs(nn.Module):
    """``module(x)`` with its nested outputs flattened to a tuple of tensors."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return tuple(flatten(self.module(x)))


class TensorForward(nn.Module):
    """A detector or segmentor in ``tensor`` mode, taking only the pre-processed input batch.

    Segmentors return the logits; single-stage detectors the head's per-level class scores
    and box deltas. Two-stage detectors return the neck's features and the RPN's per-level
    outputs, or, with ``with_roi_heads``, run the RoI heads on the RPN's proposals as mmdet's
    ``_forward`` does (mmdet's ``get_flops`` convention; the proposals need NMS, so that form
    does not export to ONNX).

    Args:
        model (nn.Module): An mmdet detector or mmseg segmentor.
        with_roi_heads (bool): See above. Defaults to False.
        data_samples (list, optional): Image metadata for the heads in ``with_roi_heads``
            mode; by default one sample per image with the input's size and scale 1.
    """

    def __init__(self, model: nn.Module, with_roi_heads: bool = False,
                 data_samples: Optional[list] = None):
        super().__init__()
        if not hasattr(model, 'extract_feat'):
            raise TypeError(f'{type(model).__name__} is not an mmdet detector or mmseg segmentor')
        self.model = model
        self.with_roi_heads = with_roi_heads
        self.data_samples = data_samples

    def forward(self, x):
        model = self.model
        if hasattr(model, 'decode_head'):
            return model._forward(x)
        if getattr(model, 'rpn_head', None) is None:
            return model.bbox_head(model.extract_feat(x))
        if self.with_roi_heads:
            return model._forward(x, self.data_samples or self._samples_for(x))
        feats = model.extract_feat(x)
        return feats, model.rpn_head(feats)

    @staticmethod
    def _samples_for(x):
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        h, w = x.shape[2:]
        samples = []
        for _ in range(x.shape[0]):
            sample = DetDataSample(metainfo=dict(
                img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1., 1.)))
            sample.gt_instances = InstanceData()
            samples.append(sample)
        return samples
