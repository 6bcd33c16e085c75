"""OpenMMLab metadata (model-index.yml, configs/metafiles/*.yml): every shipped config is
listed once, every listed file exists, and the listed figures agree with the configs and with
what get_flops measures."""
import glob
import os.path as osp
import re

import pytest
import yaml
from mmengine.config import Config

from conftest import REPO_ROOT
from mmevit.analysis import model_complexity


def models():
    with open(osp.join(REPO_ROOT, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    listed = []
    for path in imports:
        assert osp.isfile(osp.join(REPO_ROOT, path)), path
        with open(osp.join(REPO_ROOT, path)) as f:
            metafile = yaml.safe_load(f)
        collections = {c['Name'] for c in metafile['Collections']}
        for model in metafile['Models']:
            assert model['In Collection'] in collections, model['Name']
            listed.append(model)
    return listed


MODELS = {m['Config']: m for m in models()}


def test_every_shipped_config_is_listed_once():
    shipped = sorted(osp.relpath(p, REPO_ROOT)
                     for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*.py')))
    assert sorted(MODELS) == shipped  # demo/ and baselines/ are not models of mmevit
    assert len(MODELS) == len(models())
    for config, model in MODELS.items():
        assert osp.isfile(osp.join(REPO_ROOT, config)) and model['Name'] == osp.basename(
            config)[:-3]


@pytest.mark.parametrize('config', sorted(MODELS))
def test_entries_agree_with_their_configs(config):
    model, cfg = MODELS[config], Config.fromfile(osp.join(REPO_ROOT, config))
    backbone = cfg.model.backbone
    assert model['In Collection'] == {'EfficientViTM': 'EfficientViT-M',
                                      'EfficientViTB': 'EfficientViT-B',
                                      'EfficientViTL': 'EfficientViT-L'}[backbone.type]
    assert model['Metadata']['Pretrained'] == backbone.init_cfg.checkpoint
    assert model['Metadata']['Backbone'] == f'EfficientViT-{backbone.arch.upper()}'
    with open(osp.join(REPO_ROOT, config)) as f:
        published = next((line for line in f if line.startswith('# Published:')), None)
    if published is None:
        assert 'Results' not in model
        return
    (result, ) = model['Results']
    figures = [float(v) for v in re.findall(r'\d+\.\d+', published.split(' (')[0])]
    assert sorted(result['Metrics'].values()) == sorted(figures)
    weights = model.get('Converted From', {}).get('Weights')
    if weights:  # the authors' checkpoint of this very model
        arch, data = backbone.arch, result['Dataset'].lower()
        assert weights.endswith(f'/efficientvit_seg_{arch}_{data}.pt')
    if 'Weights' in model:  # the authors' COCO detector of this very config, and its log
        detector = {'RetinaNet': 'retinanet', 'MaskRCNN': 'mask_rcnn'}[cfg.model.type]
        release = ('https://github.com/xinyuliu-jeffrey/EfficientViT_Model_Zoo/releases/'
                   f'download/v1.0/{detector}_efficientvit_{backbone.arch}_fpn_1x_coco')
        assert model['Weights'] == f'{release}.pth'
        assert model['Training Log'] == f'{release}_log.json'


@pytest.mark.parametrize('config', ['configs/retinanet_evit_m4_1x.py',
                                    'configs/efficientvit_seg_b0_cityscapes.py'])
def test_params_and_macs_are_get_flops(config):
    meta = MODELS[config]['Metadata']
    h, w = (int(v) for v in meta['Input'].split('x'))
    measured = model_complexity(Config.fromfile(osp.join(REPO_ROOT, config)), (1, 3, h, w))
    assert round(measured['params'] / 1e6, 2) == meta['Params (M)']
    assert round(measured['macs'] / 1e9, 1) == meta['MACs (G)']
