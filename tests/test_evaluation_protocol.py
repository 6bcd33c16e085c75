"""The B-series segmentation configs evaluate as the authors do
(mit-han-lab/efficientvit, applications/efficientvit_seg/eval_efficientvit_seg_model.py).

For odd-sized images, the shipped configs' test pipelines and segmentor must give the network
input and the label map that an independent implementation of the authors' protocol, written
here, gives: Pillow decoding; ADE20K resized bicubically (OpenCV) to short side 512 and long
side ceil(long / short * 512 / 32) * 32, Cityscapes to 1024x2048; ImageNet mean and std on
[0, 1] RGB; stride-8 logits resized bicubically once to the label size; argmax. The models
are the authors' B1 ADE20K and B0 Cityscapes checkpoints, rebuilt from tests/data's key lists.
"""
import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from PIL import Image

from conftest import REPO_ROOT, deterministic_checkpoint, load_reference
from mmevit.models import build_model
from mmevit.models.converters import convert_official_seg_keys

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def authors_input(path, dataset):
    image = np.array(Image.open(path).convert('RGB'))
    h, w = image.shape[:2]
    if dataset == 'ade20k':
        if h < w:
            th, tw = 512, math.ceil(w / h * 512 / 32) * 32
        else:
            tw, th = 512, math.ceil(h / w * 512 / 32) * 32
    else:
        th, tw = 1024, 2048
    if (th, tw) != (h, w):
        image = cv2.resize(image, dsize=(tw, th), interpolation=cv2.INTER_CUBIC)
    x = torch.as_tensor(image.transpose(2, 0, 1), dtype=torch.float32).div(255.0)
    x = (x - torch.tensor(MEAN, dtype=torch.float32)[:, None, None]) / torch.tensor(
        STD, dtype=torch.float32)[:, None, None]
    return x[None]


def write_dataset(root, dataset, sizes):
    """Random images of the given (height, width) and label maps, in mmseg's layouts."""
    rng = np.random.default_rng(0)
    images = []
    for i, (h, w) in enumerate(sizes):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        image = cv2.GaussianBlur(image, (0, 0), 3)  # some structure for the model to see
        if dataset == 'ade20k':
            img_path = root / 'images' / 'validation' / f'ADE_val_{i:08d}.jpg'
            seg_path = root / 'annotations' / 'validation' / f'ADE_val_{i:08d}.png'
            label = rng.integers(0, 151, (h, w), dtype=np.uint8)
        else:
            img_path = root / 'leftImg8bit' / 'val' / 'city' / f'city_{i:06d}_leftImg8bit.png'
            seg_path = root / 'gtFine' / 'val' / 'city' / f'city_{i:06d}_gtFine_labelTrainIds.png'
            label = rng.integers(0, 19, (h, w), dtype=np.uint8)
        img_path.parent.mkdir(parents=True, exist_ok=True)
        seg_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(img_path, quality=90)
        Image.fromarray(label).save(seg_path)
        images.append(img_path)
    return images


@pytest.mark.parametrize('config, reference, dataset, sizes', [
    ('efficientvit_seg_b1_ade20k.py', 'efficientvit_seg_b1_ade20k', 'ade20k',
     [(301, 457), (389, 256), (333, 333)]),
    ('efficientvit_seg_b0_cityscapes.py', 'efficientvit_seg_b0_cityscapes', 'cityscapes',
     [(97, 203)]),
])
def test_configs_follow_the_authors_protocol(config, reference, dataset, sizes, tmp_path):
    images = write_dataset(tmp_path, dataset, sizes)
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/{config}')
    cfg.test_dataloader.dataset.data_root = str(tmp_path)
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False)
    model = build_model(cfg)
    model.load_state_dict(convert_official_seg_keys(
        deterministic_checkpoint(load_reference(reference))))
    with DefaultScope.overwrite_default_scope('mmseg'):
        loader = Runner.build_dataloader(cfg.test_dataloader)
    assert len(loader.dataset) == len(images)
    for batch in loader:
        path = batch['data_samples'][0].img_path
        expected_input = authors_input(path, dataset)
        with torch.no_grad():
            got_input = model.data_preprocessor(batch, False)['inputs']
            prediction = model.test_step(batch)[0].pred_sem_seg.data[0]
            logits = model.decode_head(model.extract_feat(expected_input))
        assert got_input.shape == expected_input.shape
        assert (got_input - expected_input).abs().max() < 1e-5  # float rounding only
        label_size = Image.open(path).size[::-1]
        expected = F.interpolate(logits, size=label_size, mode='bicubic',
                                 align_corners=False).argmax(1)[0]
        assert prediction.shape == expected.shape == label_size
        assert torch.equal(prediction, expected), (
            f'{path}: {int((prediction != expected).sum())} pixels differ')


def test_resize_short_side_matches_the_authors_rounding():
    from mmevit.datasets import ResizeShortSide
    resize = ResizeShortSide()
    for h, w in ((375, 500), (500, 375), (512, 683), (1, 3000), (333, 333)):
        th, tw = resize.target_size(h, w)
        assert min(th, tw) == 512 and max(th, tw) % 32 == 0
        assert max(th, tw) == math.ceil(max(h, w) / min(h, w) * 512 / 32) * 32
    out = resize.transform(dict(img=np.zeros((375, 500, 3), np.uint8)))
    assert out['img'].shape == (512, 704, 3) and out['img_shape'] == (512, 704)
    with pytest.raises(ValueError, match='short_side and size_divisor must be positive'):
        ResizeShortSide(short_side=0)
