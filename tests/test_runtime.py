"""``import mmevit`` registers models and changes nothing else in mmengine; mmevit's checkpoint
I/O is switched on explicitly, by ``mmevit.runtime`` (the shipped configs' custom_imports and
the tools), each in a fresh interpreter."""
import subprocess
import sys

from conftest import REPO_ROOT

STATE = '''
import torch
from mmengine.fileio.backends.registry_utils import backends, prefix_to_backends
from mmengine.runner.checkpoint import CheckpointLoader
import mmdet.models, mmseg.models  # noqa: F401

def state():
    return dict(loaders=dict(CheckpointLoader._schemes), backends=dict(backends),
                prefixes=dict(prefix_to_backends),
                safe_globals=set(torch.serialization.get_safe_globals()))
'''


def run(code):
    proc = subprocess.run([sys.executable, '-c', STATE + code], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_import_mmevit_leaves_mmengine_as_it_was():
    out = run('''
before = state()
import mmevit
from mmdet.registry import MODELS
assert MODELS.get('EfficientViTM') is not None  # it did register the models
assert state() == before, 'import mmevit changed mmengine'
print('unchanged')
''')
    assert out.strip().endswith('unchanged')


def test_runtime_switches_on_safe_loading_and_atomic_writes():
    out = run('''
import mmevit
from mmevit.checkpoint import AtomicLocalBackend
from mmengine.fileio import get_file_backend
assert not isinstance(get_file_backend('/tmp/x.pth'), AtomicLocalBackend)
import mmevit.runtime
after = state()
assert after['loaders'][''].__module__ == 'mmevit.runtime'
assert after['loaders']['http://'].__module__ == 'mmevit.runtime'
assert isinstance(get_file_backend('/tmp/x.pth'), AtomicLocalBackend)
print('installed')
''')
    assert out.strip().endswith('installed')


def test_shipped_configs_switch_it_on():
    out = run('''
from mmengine.config import Config
Config.fromfile('configs/retinanet_evit_m4_1x.py')  # imports its custom_imports
assert state()['loaders'][''].__module__ == 'mmevit.runtime'
print('installed')
''')
    assert out.strip().endswith('installed')
