"""Inputs and weights for tests and benchmarks (like ``mmdet.testing``), and the rule the
reference data's weights follow."""
import itertools
import math
import zlib
from typing import Sequence

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def attention_bias_index(side: int) -> torch.Tensor:
    """The authors' ``attention_bias_idxs`` of a ``side x side`` window: offsets
    ``(|dy|, |dx|)`` numbered ``dy * side + dx``."""
    points = list(itertools.product(range(side), range(side)))
    return torch.tensor([abs(a[0] - b[0]) * side + abs(a[1] - b[1])
                         for a in points for b in points]).view(len(points), len(points))


def deterministic_tensor(key: str, shape: Sequence[int],
                         norm_weight_scale: float = 1.0) -> torch.Tensor:
    """The value the reference data (``tests/data``, from the authors' code) holds for a
    weight named ``key``: a generator seeded with the CRC-32 of the key, and a rule by kind
    (tried in this order): BatchNorm statistics near their trained range, biases and bias
    tables of small spread, norm weights near ``norm_weight_scale``, other weights with unit
    fan-in variance."""
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    if key.endswith('num_batches_tracked'):
        return torch.zeros((), dtype=torch.long)
    if key.endswith('attention_bias_idxs'):
        return attention_bias_index(math.isqrt(shape[0]))
    if key.endswith('running_var'):
        return torch.rand(shape, generator=g) * 0.5 + 0.75
    if key.endswith('running_mean'):
        return torch.randn(shape, generator=g) * 0.1
    if key.endswith('attention_biases'):
        return torch.randn(shape, generator=g) * 0.5
    if key.endswith('.bias'):
        return torch.randn(shape, generator=g) * 0.1
    if len(shape) == 1:  # norm weights
        return norm_weight_scale * (1 + torch.randn(shape, generator=g) * 0.1)
    return torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))


@torch.no_grad()
def randomize_batchnorm(model: nn.Module, norm_weight_scale: float = 0.7) -> nn.Module:
    """Give every norm layer and attention bias table the reference data's values
    (:func:`deterministic_tensor`), in place.

    Fresh BatchNorms are identities and the residual branches of EfficientViT start at zero
    (zero-initialised norm scales), which would make a fast-path check compare little more
    than the identity. Norm weights near 0.7, as in the M-series reference data, keep the
    activations well conditioned through the depth.
    """
    for name, module in model.named_modules():
        if isinstance(module, _BatchNorm):
            for key, value in (*module.named_parameters(recurse=False),
                               *module.named_buffers(recurse=False)):
                if not key.endswith('num_batches_tracked'):
                    value.copy_(deterministic_tensor(f'{name}.{key}', value.shape,
                                                     norm_weight_scale))
    for name, p in model.named_parameters():
        if name.endswith('attention_biases'):
            p.copy_(deterministic_tensor(name, p.shape))
    return model


def _random_image(height: int, width: int, generator: torch.Generator,
                  device: str) -> torch.Tensor:
    return torch.randint(0, 256, (3, height, width), generator=generator,
                         dtype=torch.uint8).to(device)


def detection_batch(height: int, width: int, batch_size: int = 1, device: str = 'cpu',
                    with_targets: bool = False, seed: int = 0) -> dict:
    """A ``test_step``/``train_step`` input of random uint8 images (and one box and mask
    each with ``with_targets``)."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(_random_image(height, width, g, device))
        sample = DetDataSample(metainfo=dict(img_shape=(height, width),
                                             ori_shape=(height, width), scale_factor=(1., 1.)))
        if with_targets:
            gt = InstanceData()
            gt.bboxes = torch.tensor([[0.2 * width, 0.2 * height, 0.6 * width, 0.7 * height]],
                                     device=device)
            gt.labels = torch.tensor([0], device=device)
            mask = torch.zeros(1, height, width, dtype=torch.bool)
            mask[:, int(0.2 * height):int(0.7 * height), int(0.2 * width):int(0.6 * width)] = 1
            gt.masks = BitmapMasks(mask.numpy(), height, width)
            sample.gt_instances = gt
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def segmentation_batch(height: int, width: int, batch_size: int = 1, device: str = 'cpu',
                       num_classes: int = 19, seed: int = 0) -> dict:
    """A ``test_step``/``train_step`` input of random uint8 images and label maps."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(_random_image(height, width, g, device))
        sample = SegDataSample(metainfo=dict(img_shape=(height, width),
                                             ori_shape=(height, width),
                                             pad_shape=(height, width)))
        sample.gt_sem_seg = PixelData(data=torch.randint(
            0, num_classes, (1, height, width), generator=g).to(device))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)
