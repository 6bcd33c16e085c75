"""The architecture grid: mmdet's and mmseg's architectures on EfficientViT-M4, -B1 and -L1.

:data:`GRID` is the one table of the grid (README's table is :func:`markdown_table`). Every
working cell's config follows the project's conventions, builds, takes a training step on
two images of different odd sizes with the stem and first stage frozen (finite losses,
gradients in every other stage, none in the frozen ones, backbone BatchNorm kept in eval
mode) and predicts results of the right structure for both images.
"""
import glob
import os.path as osp

import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import REPO_ROOT
from mmevit.models import build_model, task_of
from mmevit.testing import randomize_batchnorm

BACKBONES = ('M4', 'B1', 'L1')

#: Each architecture's config per backbone (``{}``: the backbone in lower case), relative to
#: ``configs/``, and how the backbone's levels reach the architecture on M4 (the M-series has
#: no stride-4 or stride-8 level), which the table's M4 cells name.
ARCHITECTURES = {
    'Faster R-CNN': ('faster_rcnn/faster_rcnn_evit_{}_1x_coco.py',
                     'EfficientViTFPN: 2 transposed convs (strides 4..64)'),
    'Cascade Mask R-CNN': ('cascade_rcnn/cascade_mask_rcnn_evit_{}_1x_coco.py',
                           'EfficientViTFPN: 2 transposed convs (strides 4..64)'),
    'FCOS': ('fcos/fcos_evit_{}_1x_coco.py',
             'EfficientViTFPN: 1 transposed conv (strides 8..128)'),
    'ATSS': ('atss/atss_evit_{}_1x_coco.py',
             'EfficientViTFPN: 1 transposed conv (strides 8..128)'),
    'GFL': ('gfl/gfl_evit_{}_1x_coco.py', 'EfficientViTFPN: 1 transposed conv (strides 8..128)'),
    'RTMDet-s': ('rtmdet/rtmdet_s_evit_{}_300e_coco.py',
                 'EfficientViTFPN (strides 8..32) before CSPNeXtPAFPN'),
    'YOLOX-s': ('yolox/yolox_s_evit_{}_300e_coco.py',
                'EfficientViTFPN (strides 8..32) before YOLOXPAFPN'),
    'Deformable DETR': ('deformable_detr/deformable_detr_evit_{}_50e_coco.py',
                        'EfficientViTFPN for ChannelMapper (strides 8..64)'),
    'DINO 4-scale': ('dino/dino-4scale_evit_{}_12e_coco.py',
                     'EfficientViTFPN for ChannelMapper (strides 8..64)'),
    'UPerNet': ('upernet/upernet_evit_{}_160k_ade20k.py',
                'EfficientViTFPN neck (strides 4..32)'),
    'Semantic FPN': ('sem_fpn/fpn_evit_{}_160k_ade20k.py',
                     'EfficientViTFPN for FPN (strides 4..32)'),
    'SegFormer head': ('segformer/segformer_evit_{}_160k_ade20k.py',
                       'EfficientViTFPN neck (strides 4..32)'),
    'Mask2Former': ('mask2former/mask2former_evit_{}_160k_ade20k.py',
                    'EfficientViTFPN neck (strides 4..32)'),
}

#: (architecture, backbone) -> config path relative to ``configs/``, or
#: ``'does not work: <why>'`` for a cell without a config.
GRID = {(arch, backbone): path.format(backbone.lower())
        for arch, (path, _) in ARCHITECTURES.items() for backbone in BACKBONES}

#: The folders of configs/ that hold the grid (tests/test_configs.py leaves them to this file).
GRID_FOLDERS = frozenset(osp.dirname(cell) for cell in GRID.values() if cell.endswith('.py'))

WORKING = sorted(cell for cell, config in GRID.items() if config.endswith('.py'))

MIT_URL = 'https://huggingface.co/han-cai/efficientvit-cls/resolve/main/efficientvit_{}_r224.pt'
MSRA_URL = ('https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/releases/download/v1.0/'
            'efficientvit_{}.pth')


def cell_text(arch: str, backbone: str) -> str:
    """A table cell: a link to the config saying "works" (on M4 with how the levels are fed),
    or the reason the cell does not work."""
    config = GRID[(arch, backbone)]
    if not config.endswith('.py'):
        return config
    how = f' with {ARCHITECTURES[arch][1]}' if backbone == 'M4' else ''
    return f'[works{how}](configs/{config})'


def markdown_table() -> str:
    """The grid as README's markdown table, one row per architecture."""
    lines = ['| Architecture | ' + ' | '.join(BACKBONES) + ' |',
             '|---' * (len(BACKBONES) + 1) + '|']
    for arch in ARCHITECTURES:
        lines.append(f'| {arch} | ' + ' | '.join(cell_text(arch, b) for b in BACKBONES) + ' |')
    return '\n'.join(lines) + '\n'


def load(cell):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', GRID[cell]))


def test_grid_lists_every_config_of_its_folders_once():
    shipped = sorted(osp.relpath(path, osp.join(REPO_ROOT, 'configs'))
                     for folder in GRID_FOLDERS
                     for path in glob.glob(osp.join(REPO_ROOT, 'configs', folder, '*.py')))
    assert shipped == sorted(c for c in GRID.values() if c.endswith('.py'))


def test_readme_table_is_the_grid():
    with open(osp.join(REPO_ROOT, 'README.md')) as f:
        readme = f.read()
    header = markdown_table().splitlines()[0]
    if header not in readme:
        pytest.skip('README.md has no architecture grid table yet')
    start = readme.index(header)
    assert readme[start:start + len(markdown_table())] == markdown_table()


@pytest.mark.parametrize('cell', WORKING, ids=[f'{a}-{b}' for a, b in WORKING])
def test_config_follows_the_conventions(cell):
    arch, backbone = cell
    cfg = load(cell)
    with open(osp.join(REPO_ROOT, 'configs', GRID[cell])) as f:
        header = ''.join(line for line in f if line.startswith('#'))
    assert f'EfficientViT-{backbone}' in header and 'Levels:' in header
    assert 'Not trained here: no ' in header
    assert cfg.custom_imports.imports == ['mmevit', 'mmevit.runtime']
    assert not cfg.custom_imports.allow_failed_imports
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert cfg.model.backbone.arch == backbone.lower()
    url = (MSRA_URL if backbone.startswith('M') else MIT_URL).format(backbone.lower())
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=url)
    if task_of(cfg) == 'detection':  # the project's convention for pretrained detectors
        assert cfg.model.backbone.norm_eval is True
    else:  # mmseg's: SyncBN in the backbone and the heads, statistics trained
        norms = [cfg.model.backbone.norm_cfg] + [
            cfg.model[head].norm_cfg for head in ('decode_head', 'auxiliary_head')
            if head in cfg.model and 'norm_cfg' in cfg.model[head]]
        assert all(norm.type == 'SyncBN' for norm in norms)


def shrink(cfg):
    """Fewer queries and sampled points where the architecture has a parameter for it: the
    same code paths at a fraction of the cost."""
    model = cfg.model
    if 'num_queries' in model:  # DETRs
        model.num_queries = 20
        model.test_cfg.max_per_img = 20
        if 'dn_cfg' in model:
            model.dn_cfg.group_cfg.num_dn_queries = 10
    head = model.get('decode_head', {})
    if head.get('type') == 'Mask2FormerHead':
        head.num_queries = 10
        head.train_cfg.num_points = 1024
    if 'rpn_proposal' in model.get('train_cfg', {}):  # two-stage detectors
        model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
        model.test_cfg.rpn.update(nms_pre=200, max_per_img=100)


SIZES = [(37, 53), (51, 35)]  # (height, width): odd and different, padded to one batch


def detection_inputs(with_mask):
    return demo_mm_inputs(batch_size=2, image_shapes=[(3, h, w) for h, w in SIZES],
                          num_items=[2, 1], num_classes=80, with_mask=with_mask)


def segmentation_inputs(num_classes):
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for h, w in SIZES:
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, h, w),
                                                         generator=g))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('cell', WORKING, ids=[f'{a}-{b}' for a, b in WORKING])
def test_cell_trains_with_frozen_stages_and_predicts(cell):
    cfg = load(cell)
    segmentation = task_of(cfg) == 'segmentation'
    shrink(cfg)
    cfg.model.backbone.update(frozen_stages=1, norm_eval=True)
    if segmentation:  # pad to a multiple of 32 instead of the 512x512 crops
        cfg.model.data_preprocessor.update(size=None, size_divisor=32)
    torch.manual_seed(0)
    model = build_model(cfg)  # random weights: the ImageNet checkpoint is not downloaded
    model.init_weights()
    # trained-looking BatchNorm: fresh ones zero EfficientViT's residual branches
    randomize_batchnorm(model.backbone)
    model.train()
    backbone = model.backbone
    assert not any(m.training for m in backbone.modules() if isinstance(m, _BatchNorm))

    if segmentation:
        data = segmentation_inputs(model.decode_head.num_classes)
    else:
        data = detection_inputs(with_mask=model.with_mask)
    # the training iteration YOLOX's batch resizing counts (a runner's, absent here)
    MessageHub.get_current_instance().update_info('iter', 0)
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss), losses
    loss.backward()
    frozen = [backbone.stem_module, backbone.stages[0]]
    for module in frozen:
        assert all(not p.requires_grad and p.grad is None for p in module.parameters())
    for i, stage in enumerate(backbone.stages[1:], start=2):
        grads = [p.grad for p in stage.parameters()]
        assert all(g is not None for g in grads), f'stage {i} not reached by the loss'
        assert sum(g.abs().sum() for g in grads) > 0, f'stage {i} got zero gradients'
        assert all(torch.isfinite(g).all() for g in grads)

    model.eval()
    with torch.no_grad():
        if segmentation:  # mmseg's preprocessor takes one image size per batch at test time
            results = [model.test_step(dict(inputs=[image], data_samples=[sample]))[0]
                       for image, sample in zip(data['inputs'], data['data_samples'])]
        else:
            results = model.test_step(data)
    assert len(results) == 2
    for result, (h, w) in zip(results, SIZES):
        if segmentation:
            assert isinstance(result, SegDataSample)
            assert result.pred_sem_seg.data.shape == (1, h, w)
            assert int(result.pred_sem_seg.data.max()) < model.decode_head.num_classes
            continue
        assert isinstance(result, DetDataSample)
        pred = result.pred_instances
        n = len(pred.scores)
        assert pred.bboxes.shape == (n, 4) and pred.labels.shape == (n, )
        assert torch.isfinite(pred.bboxes).all()
        if model.with_mask:
            assert pred.masks.shape == (n, h, w)
