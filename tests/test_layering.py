"""The package's import layering: checkpoint I/O and the registry at the bottom, importing
nothing of mmevit; models above them, never importing the Runner pieces, the deployment code,
the runtime switch or the measurements built on top of them."""
import ast
import glob
import os.path as osp

import pytest

from conftest import REPO_ROOT

PACKAGE = osp.join(REPO_ROOT, 'mmevit')
ABOVE_MODELS = ('mmevit.engine', 'mmevit.deploy', 'mmevit.benchmark', 'mmevit.analysis',
                'mmevit.cli', 'mmevit.testing', 'mmevit.runtime')


def module_name(path):
    rel = osp.relpath(path, REPO_ROOT)[:-len('.py')].replace(osp.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def imported_modules(path):
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = module_name(path)
    if not path.endswith('__init__.py'):
        package = package.rpartition('.')[0]
    tree = ast.parse(open(path).read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
                base = f'{parent}.{base}' if base else parent
            names += [base] + [f'{base}.{alias.name}' for alias in node.names]
    return names


MODEL_FILES = sorted(glob.glob(osp.join(PACKAGE, 'models', '**', '*.py'), recursive=True))


def test_import_resolution():
    # the checker itself: a relative import in a subpackage resolves to its absolute name
    names = imported_modules(osp.join(PACKAGE, 'models', '__init__.py'))
    assert 'mmevit.models.backbones.EfficientViTM' in names


@pytest.mark.parametrize('path', MODEL_FILES, ids=lambda p: osp.relpath(p, PACKAGE))
def test_models_import_nothing_above_them(path):
    bad = [n for n in imported_modules(path) if n.startswith(ABOVE_MODELS)]
    assert not bad, f'{module_name(path)} imports {bad}'


def test_registry_is_a_leaf():
    names = imported_modules(osp.join(PACKAGE, 'registry.py'))
    assert not [n for n in names if n.startswith('mmevit')]


CHECKPOINT_FILES = sorted(glob.glob(osp.join(PACKAGE, 'checkpoint', '*.py')))


@pytest.mark.parametrize('path', CHECKPOINT_FILES, ids=lambda p: osp.relpath(p, PACKAGE))
def test_checkpoint_io_imports_nothing_else_of_mmevit(path):
    names = imported_modules(path)
    assert not [n for n in names if n.startswith('mmevit') and not n.startswith(
        'mmevit.checkpoint')]
