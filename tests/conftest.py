"""Shared fixtures and helpers: the golden data of ``tests/data/``, the generated shapes data
set, and running the tools as a user would.

``tests/data/efficientvit_*.pt`` hold outputs of the authors' implementations (microsoft/Cream,
mit-han-lab/efficientvit) on deterministic weights: each lists the keys and shapes of an
official checkpoint, and :func:`deterministic_checkpoint` rebuilds those weights by the rule the
data was made with.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

import mmevit  # noqa: F401  (registers the models)
import mmevit.runtime  # noqa: F401  (what the shipped configs switch on: safe checkpoint I/O)
from mmevit.datasets import generate_shapes_dataset
from mmevit.models import backbone_class, build_model
from mmevit.testing import attention_bias_index, deterministic_tensor

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'data')
DET_CONFIG = osp.join(REPO_ROOT, 'configs/demo/retinanet_evit_m4_shapes.py')
SEG_CONFIG = osp.join(REPO_ROOT, 'configs/demo/fpn_evit_m4_shapes_seg.py')
SEG_B1_CONFIG = osp.join(REPO_ROOT, 'configs/demo/efficientvit_seg_b1_shapes.py')


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'slow: minutes-long tool runs left out of `make test` (keeping it under 15 '
        'minutes on 2 cores); `make test-all` runs them too')


# ---------------------------------------------------------------- golden data


def load_reference(name):
    return torch.load(osp.join(DATA_DIR, f'{name}.pt'), weights_only=True)


def deterministic_checkpoint(reference):
    """The official-format state dict the reference outputs were computed with."""
    scale = reference.get('norm_weight_scale', 1.0)
    return {key: deterministic_tensor(key, shape, scale)
            for key, shape, _ in reference['checkpoint_keys']}


def reference_input(name):
    """Input named '1xCxHxW'."""
    shape = tuple(int(s) for s in name.split('x'))
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def relative_error(out, ref):
    return ((out.double() - ref.double()).norm() / ref.double().norm()).item()


REFERENCE_TOL = 1e-4  # relative error, every output of every reference input


def pretrained_backbone(arch, checkpoint, scope='mmdet', type=None, **kwargs):
    """The path users take: a config dict through a scope's registry, then init_weights().
    ``type`` defaults to the class of the named ``arch`` (needed for a settings dict)."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS as SEG_MODELS
    registry = {'mmdet': DET_MODELS, 'mmseg': SEG_MODELS}[scope]
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type=type or backbone_class(arch).__name__, arch=arch,
                                    init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
                                    **kwargs))
    model.init_weights()
    return model.eval()


def assert_matches_reference(model, ref, requires_grad=False):
    """Every stage of every reference input, end to end, within REFERENCE_TOL."""
    for name, outs in ref['outputs'].items():
        x = reference_input(name).requires_grad_(requires_grad)
        with torch.set_grad_enabled(requires_grad):
            ys = model(x)
        assert len(ys) == len(outs) == len(ref['output_names'])
        for stage, y, expected in zip(ref['output_names'], ys, outs):
            err = relative_error(y.detach(), expected)
            assert err < REFERENCE_TOL, f'{ref["arch"]} {name} {stage}: {err:.2e}'


def authors_detector_layout(state_dict, num_trans_convs):
    """An mmevit EfficientViT-M4 detector's state dict in the names the authors' released COCO
    detectors (microsoft/Cream, mmdet 2.x) use: their backbone keys (with the 7x7
    ``attention_bias_idxs`` tables their detection backbone stores) and neck keys, as listed
    by the reference files; heads keep mmdet's names."""
    from mmevit.models.converters import convert_official_fpn_keys, convert_official_msra_keys
    official = [k for k, _, _ in load_reference('efficientvit_m4')['checkpoint_keys']
                if not k.startswith('head.')]
    names = {f'backbone.{ours}': f'backbone.{theirs}' for ours, theirs in zip(
        convert_official_msra_keys(dict.fromkeys(official)), official)}
    neck = [k for k, _, _ in load_reference('cream_neck_m4')[
        {1: 'retinanet', 2: 'mask_rcnn'}[num_trans_convs]]['checkpoint_keys']]
    names.update({f'neck.{ours}': f'neck.{theirs}' for ours, theirs in zip(
        convert_official_fpn_keys(dict.fromkeys(neck), num_trans_convs), neck)})
    converted = {names.get(k, k): v for k, v in state_dict.items()}
    converted.update({k: attention_bias_index(7) for k in names.values()
                      if k.endswith('attention_bias_idxs')})
    return converted


@pytest.fixture(scope='session')
def official_checkpoint(tmp_path_factory):
    """Path of a checkpoint in the authors' format holding a reference file's weights."""
    cache = {}
    folder = tmp_path_factory.mktemp('official')

    def make(name):
        if name not in cache:
            ref = load_reference(name)
            path = str(folder / f'{name}.pth')
            container = 'model' if ref['family'] == 'msra' else 'state_dict'
            torch.save({container: deterministic_checkpoint(ref)}, path)
            cache[name] = path
        return cache[name]

    return make


# ---------------------------------------------------------------- models and data


def config_model(config):
    """The model of a project config (path relative to ``configs/``) with random weights."""
    return build_model(Config.fromfile(osp.join(REPO_ROOT, 'configs', config)))


def image(h, w, seed=0):
    return torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    """A small generated shapes data set shared by the tests that only read it."""
    root = str(tmp_path_factory.mktemp('shapes'))
    generate_shapes_dataset(root, num_train=8, num_val=4)
    return root + '/'


@pytest.fixture()
def own_shapes_root(tmp_path):
    """A shapes data set of the test's own, for tests that break it."""
    root = str(tmp_path / 'shapes')
    generate_shapes_dataset(root, num_train=8, num_val=4)
    return root + '/'


@pytest.fixture()
def http_server(tmp_path, monkeypatch):
    """Serves ``tmp_path / 'www'`` on 127.0.0.1 (a random free port) and records the paths it
    is asked for; torch's hub cache moves to ``tmp_path / 'hub'``. Stopped after the test."""
    import functools
    import http.server
    import threading
    root = tmp_path / 'www'
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Handler, directory=str(root)))
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.1),
                              daemon=True)
    thread.start()
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    yield root, f'http://127.0.0.1:{server.server_address[1]}', requests
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# ---------------------------------------------------------------- the tools


def run_tool(tool, *args, env=None):
    """Run ``tools/<tool>`` with this interpreter from the repository root."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    return subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', tool), *args],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600)


def check(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def loader_options(root, detection=False):
    """--cfg-options that point every data loader of a config at ``root`` (no workers), and
    for detection its COCO evaluators at ``root``'s validation annotations."""
    options = []
    for loader in ('train', 'val', 'test'):
        options += [f'{loader}_dataloader.dataset.data_root={root}',
                    f'{loader}_dataloader.num_workers=0',
                    f'{loader}_dataloader.persistent_workers=False']
    if detection:
        ann = root + 'annotations/instances_val.json'
        options += [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']
    return options


def det_options(root, epochs):
    return ['--cfg-options', *loader_options(root, detection=True),
            'train_dataloader.batch_size=4',
            f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
            'default_hooks.checkpoint.interval=1', 'model.test_cfg.score_thr=0.0']


def seg_options(root, iters, checkpoint_interval=2):
    return ['--cfg-options', *loader_options(root), 'train_dataloader.batch_size=2',
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={checkpoint_interval}']


def rewrite_annotations(root, edit, split='train'):
    """Apply ``edit`` to a split's COCO annotation dict in place; returns the file's path."""
    path = osp.join(root, 'annotations', f'instances_{split}.json')
    with open(path) as f:
        coco = json.load(f)
    edit(coco)
    with open(path, 'w') as f:
        json.dump(coco, f)
    return path


def assert_same_detections(expected, got, rtol=1e-4, atol=1e-3):
    """The same boxes, labels and scores in any order (near-equal scores may swap places):
    every detection of ``got`` has a counterpart in ``expected`` and the counts agree."""
    assert len(got) == len(expected) > 0
    assert torch.allclose(got.scores.sort().values, expected.scores.sort().values,
                          rtol=rtol, atol=1e-6)
    # coordinates are centres +- sizes: their rounding scales with the image, not the value
    box_match = ((got.bboxes[:, None] - expected.bboxes[None]).abs()
                 <= atol + rtol * expected.bboxes.abs().max()).all(-1)
    score_match = (got.scores[:, None] - expected.scores[None]).abs() <= (
        1e-6 + rtol * expected.scores[None])
    label_match = got.labels[:, None] == expected.labels[None]
    unmatched = ~(box_match & score_match & label_match).any(1)
    assert not unmatched.any(), f'{int(unmatched.sum())} detections without a counterpart'
