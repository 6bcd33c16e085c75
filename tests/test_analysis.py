"""Params and MACs as the papers count them (mmevit/analysis.py)."""
import pytest

from conftest import load_reference
from mmevit.analysis import PAPER_COMPLEXITY, imagenet_complexity


@pytest.mark.parametrize('arch', ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'l1', 'l2'])
def test_imagenet_params_and_macs_match_the_published_ones(arch):
    # M: Table 1 of the paper, params to 0.01M and MACs to 1M; L: the authors' model zoo,
    # params to 1M and MACs to 0.1G. Classifiers at 224x224, heads included.
    paper_params, paper_macs = PAPER_COMPLEXITY[arch]
    complexity = imagenet_complexity(arch)
    params_digits, macs_step = (2, 1e6) if arch.startswith('m') else (0, 1e8)
    assert round(complexity['params'] / 1e6, params_digits) == paper_params
    assert round(complexity['macs'] / macs_step) * macs_step == paper_macs * 1e6
    assert complexity['params'] == load_reference(f'efficientvit_{arch}')['params_classifier']


def test_no_classifier_for_other_archs():
    with pytest.raises(ValueError, match="No ImageNet classifier is modelled for arch 'b1'"):
        imagenet_complexity('b1')
