"""Inputs and weights for tests and benchmarks (like ``mmdet.testing``)."""
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters, in place.

    Fresh BatchNorms are identities and the residual branches of EfficientViT start at zero
    (zero-initialised BN scales), which would make a fast-path check compare little more
    than the identity. The values keep activations of the order of one through the depth.
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.weight.copy_(torch.rand(n, generator=g) * 0.3 + 0.2)
            m.bias.copy_(torch.randn(n, generator=g) * 0.05)
    for name, p in model.named_parameters():
        if name.endswith('attention_biases'):
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
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
