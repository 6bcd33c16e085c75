"""What the benchmark measures: the backbones, detectors and segmentors, and the machine."""
import os
import os.path as osp
import platform
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.config import Config

from mmevit.models import ARCHS, EfficientViTM, backbone_class, build_backbone, build_model

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
M_ARCHS = tuple(EfficientViTM.arch_settings)
# Published throughput at 224x224 (Liu et al., CVPR 2023): Xeon E5-2690 CPU, V100 GPU.
PAPER_CPU = {'m4': 88.5, 'mobilenetv2': 32.5}
PAPER_GPU = {'m4': 15914}
DETECTORS = {
    'RetinaNet': dict(m4='configs/retinanet_evit_m4_1x.py',
                      b1='configs/retinanet_evit_b1_1x.py',
                      l1='configs/retinanet_evit_l1_1x.py',
                      resnet50='configs/baselines/retinanet_r50_1x.py',
                      mobilenetv2='configs/baselines/retinanet_mobilenetv2_1x.py'),
    'Mask R-CNN': dict(m4='configs/mask_rcnn_evit_m4_1x.py',
                       b1='configs/mask_rcnn_evit_b1_1x.py',
                       l1='configs/mask_rcnn_evit_l1_1x.py',
                       resnet50='configs/baselines/mask_rcnn_r50_1x.py',
                       mobilenetv2='configs/baselines/mask_rcnn_mobilenetv2_1x.py'),
}
DETECTOR_NAMES = [f'{d}-{b}' for d, configs in DETECTORS.items() for b in configs]
# B- and L-series segmentors at the protocols' sizes: ADE20K 512x512, Cityscapes 1024x2048
SEGMENTORS = {f'{arch}-ade20k': (f'configs/efficientvit_seg_{arch}_ade20k.py', (512, 512))
              for arch in ('b1', 'b2', 'b3', 'l1', 'l2')}
SEGMENTORS.update({f'{arch}-cityscapes': (f'configs/efficientvit_seg_{arch}_cityscapes.py',
                                          (1024, 2048))
                   for arch in ('b0', 'b1', 'b2', 'b3', 'l1', 'l2')})


def detector_config(name: str) -> str:
    """The config of ``'RetinaNet-m4'`` and the like (a :data:`DETECTOR_NAMES` entry)."""
    detector, backbone = name.rsplit('-', 1)
    return osp.join(REPO_ROOT, DETECTORS[detector][backbone])


def benchmark_backbone(name: str, img_size: Optional[int] = None) -> nn.Module:
    """An EfficientViT (``m0``..``l2``) or mmdet baseline backbone, in eval mode.

    ``img_size`` set: M-series windows as the authors' ImageNet models have them at that size;
    otherwise the detection backbone's 7x7. Baselines (``mobilenetv2``, ``resnet50``) return
    their last stage only, like a classifier; EfficientViTs return every stage.
    """
    if name in ARCHS:
        kwargs = {}
        if img_size is not None and backbone_class(name) is EfficientViTM:
            kwargs['window_size'] = EfficientViTM.imagenet_window_sizes(img_size)
        return build_backbone(name, **kwargs).eval()
    from mmdet.models.backbones import MobileNetV2, ResNet
    baselines = dict(mobilenetv2=lambda: MobileNetV2(out_indices=(7, )),
                     resnet50=lambda: ResNet(depth=50, out_indices=(3, )))
    if name not in baselines:
        raise ValueError(f'Unknown backbone {name!r}; expected one of '
                         f'{list(ARCHS) + list(baselines)}')
    model = baselines[name]()
    model.eval()  # mmdet's MobileNetV2.train() returns None
    return model


def model_from_config(config: str, device: str = 'cpu') -> nn.Module:
    """A detector or segmentor from a project config, random weights, eval mode."""
    return build_model(Config.fromfile(osp.join(REPO_ROOT, config)), device)


def machine() -> Dict[str, object]:
    """CPU model, cores, torch and Python versions (and the GPU's name)."""
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    info = dict(cpu=cpu, cores=os.cpu_count(), torch=torch.__version__,
                python=platform.python_version())
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    return info
