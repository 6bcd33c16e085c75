"""The authors' released COCO detectors (microsoft/Cream: RetinaNet-M4 and Mask R-CNN-M4,
mmdet 2.x checkpoints in their key names) through every path a user takes: the offline
converter, ``load_from`` (what ``tools/test.py CONFIG FILE`` sets) and ``DetInferencer``.

The checkpoints are built here the way the authors' code writes them: the backbone from the
reference key list of their ImageNet model (without the classifier) with the stage-3 bias
tables resized to 7x7 windows as their detection backbone does when it loads ImageNet
weights, the neck from the reference neck file, the heads in mmdet's names, the classes in
mmdet 2.x's ``meta['CLASSES']``."""
import os.path as osp
import shutil

import pytest
import torch
import torch.nn.functional as F
from mmdet.evaluation import get_classes
from mmengine.config import Config

from conftest import (REPO_ROOT, check, config_model, deterministic_checkpoint,
                      deterministic_tensor, load_reference, pretrained_backbone, relative_error,
                      run_tool)
from mmevit.checkpoint import safe_torch_load
from mmevit.testing import attention_bias_index

TOOL = 'model_converters/convert_checkpoint.py'
DETECTORS = {'retinanet': 'retinanet_evit_m4_1x.py', 'mask_rcnn': 'mask_rcnn_evit_m4_1x.py'}
NECKS = load_reference('cream_neck_m4')
COCO_CLASSES = tuple(get_classes('coco'))


def authors_state_dict(kind):
    backbone = {}
    for key, value in deterministic_checkpoint(load_reference('efficientvit_m4')).items():
        if key.startswith('head.'):
            continue
        if key.endswith('attention_biases') and value.shape[1] != 49:  # 4x4 at ImageNet's 224
            heads, side = value.shape[0], int(value.shape[1] ** 0.5)
            value = F.interpolate(value.view(1, heads, side, side), size=(7, 7),
                                  mode='bicubic').view(heads, 49)
        elif key.endswith('attention_bias_idxs'):
            value = attention_bias_index(7)
        backbone[f'backbone.{key}'] = value
    neck = {f'neck.{key}': deterministic_tensor(key, shape)
            for key, shape, _ in NECKS[kind]['checkpoint_keys']}
    g = torch.Generator().manual_seed(1)
    heads = {k: (torch.randn(v.shape, generator=g) if v.is_floating_point() else v)
             for k, v in config_model(DETECTORS[kind]).state_dict().items()
             if not k.startswith(('backbone.', 'neck.'))}
    return {**backbone, **neck, **heads}


@pytest.fixture(scope='module')
def authors_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp('cream')
    paths = {}
    for kind in DETECTORS:
        paths[kind] = str(folder / f'{kind}_efficientvit_m4_fpn_1x_coco.pth')
        torch.save({'meta': {'mmdet_version': '2.11.0', 'CLASSES': COCO_CLASSES,
                             'epoch': 12, 'iter': 87960},
                    'state_dict': authors_state_dict(kind)}, paths[kind])
    return paths


@pytest.fixture(scope='module')
def converted(authors_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp('converted')
    paths = {}
    for kind, config in DETECTORS.items():
        paths[kind] = str(folder / f'{kind}.pth')
        out = check(run_tool(TOOL, authors_checkpoint[kind], paths[kind], '--detector',
                             f'configs/{config}'))
        assert "the authors' EfficientViTFPN layout (microsoft/Cream)" in out
    return paths


@pytest.mark.parametrize('kind', DETECTORS)
def test_converted_authors_detector(kind, authors_checkpoint, converted):
    checkpoint = safe_torch_load(converted[kind])
    assert checkpoint['meta']['dataset_meta']['classes'] == COCO_CLASSES
    model = config_model(DETECTORS[kind])
    model.load_state_dict(checkpoint['state_dict'], strict=True)

    # the neck computes what the authors' neck computes (every level of every image)
    with torch.no_grad():
        for i, (name, shapes) in enumerate(NECKS[kind]['input_shapes'].items()):
            inputs = [torch.randn(s, generator=torch.Generator().manual_seed(1000 * i + k))
                      for k, s in enumerate(shapes)]
            for out, expected in zip(model.neck(inputs), NECKS[kind]['outputs'][name],
                                     strict=True):
                assert relative_error(out, expected) < 1e-6

    # the backbone is the one loaded from the authors' ImageNet checkpoint (reference-checked)
    imagenet = load_reference('efficientvit_m4')
    path = osp.join(osp.dirname(converted[kind]), 'imagenet_m4.pth')
    torch.save({'model': deterministic_checkpoint(imagenet)}, path)
    expected = pretrained_backbone('m4', path).state_dict()
    assert model.backbone.state_dict().keys() == expected.keys()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, expected[key]), key

    # the heads are the file's, unchanged
    source = safe_torch_load(authors_checkpoint[kind])['state_dict']
    heads = [k for k in source if not k.startswith(('backbone.', 'neck.'))]
    assert len(heads) > 10
    for key in heads:
        assert torch.equal(checkpoint['state_dict'][key], source[key]), key


@pytest.mark.parametrize('kind', DETECTORS)
def test_load_from_and_inferencer_take_the_authors_file(kind, authors_checkpoint, converted,
                                                        http_server, tmp_path):
    from mmdet.apis import DetInferencer
    from mmengine.runner import Runner
    expected = safe_torch_load(converted[kind])['state_dict']
    config = osp.join(REPO_ROOT, 'configs', DETECTORS[kind])

    cfg = Config.fromfile(config)  # what tools/test.py CONFIG FILE does
    cfg.work_dir, cfg.load_from = str(tmp_path), authors_checkpoint[kind]
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    # the inferencer given the release's URL (here served from 127.0.0.1)
    root, base, _ = http_server
    shutil.copy(authors_checkpoint[kind], root / osp.basename(authors_checkpoint[kind]))
    inferencer = DetInferencer(model=config, device='cpu', show_progress=False,
                               weights=f'{base}/{osp.basename(authors_checkpoint[kind])}')
    assert tuple(inferencer.model.dataset_meta['classes']) == COCO_CLASSES
    for model in (runner.model, inferencer.model):
        state_dict = model.state_dict()
        assert state_dict.keys() == expected.keys()
        for key, value in state_dict.items():
            assert torch.equal(value, expected[key]), key


def test_converter_passes_an_mmevit_checkpoint_through(converted, tmp_path):
    dst = str(tmp_path / 'again.pth')
    out = check(run_tool(TOOL, converted['retinanet'], dst, '--detector',
                         'configs/retinanet_evit_m4_1x.py'))
    assert 'layout' not in out  # nothing to convert
    before, after = (safe_torch_load(p) for p in (converted['retinanet'], dst))
    assert before['state_dict'].keys() == after['state_dict'].keys()
    assert all(torch.equal(v, after['state_dict'][k]) for k, v in before['state_dict'].items())
    assert after['meta']['dataset_meta'] == before['meta']['dataset_meta']


@pytest.mark.parametrize('edit, message', [
    (lambda sd: sd.pop('bbox_head.retina_cls.bias'),
     "missing key(s) ['bbox_head.retina_cls.bias']"),
    (lambda sd: sd.update({'bbox_head.extra.weight': torch.zeros(1)}),
     "unexpected key(s) ['bbox_head.extra.weight']"),
    (lambda sd: sd.update({'neck.fpn_convs.0.conv.bias': torch.zeros(3)}),
     "shape mismatch at 'neck.fpn_convs.0.conv.bias': checkpoint has (3,)"),
])
def test_converter_names_every_key_it_cannot_place(edit, message, authors_checkpoint, tmp_path):
    checkpoint = safe_torch_load(authors_checkpoint['retinanet'])
    edit(checkpoint['state_dict'])
    src, dst = str(tmp_path / 'damaged.pth'), tmp_path / 'out.pth'
    torch.save(checkpoint, src)
    proc = run_tool(TOOL, src, str(dst), '--detector', 'configs/retinanet_evit_m4_1x.py')
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-2000:]
    assert not dst.exists()


def test_converter_refuses_the_other_detectors_neck(authors_checkpoint, tmp_path):
    proc = run_tool(TOOL, authors_checkpoint['mask_rcnn'], str(tmp_path / 'out.pth'),
                    '--detector', 'configs/retinanet_evit_m4_1x.py')
    assert proc.returncode != 0
    assert '2 transposed conv(s)' in proc.stderr and 'the model 1' in proc.stderr
