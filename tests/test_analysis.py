"""Params and MACs as the papers count them (mmevit/analysis.py)."""
import pytest

from conftest import load_reference
from mmevit.analysis import PAPER_M_COMPLEXITY, efficientvit_m_imagenet_complexity


@pytest.mark.parametrize('arch', ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'])
def test_imagenet_params_and_macs_match_paper(arch):
    # Table 1 of the paper: params (M) and MACs (M) at 224x224, classifier included.
    paper_params, paper_macs = PAPER_M_COMPLEXITY[arch]
    complexity = efficientvit_m_imagenet_complexity(arch)
    assert round(complexity['params'] / 1e6, 2) == paper_params
    assert round(complexity['macs'] / 1e6) == paper_macs
    assert complexity['params'] == load_reference(f'efficientvit_{arch}')['params_classifier']
