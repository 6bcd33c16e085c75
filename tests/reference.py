"""The golden data of ``tests/data/`` (copied from the authors' implementations' outputs).

Each ``efficientvit_*.pt`` lists the keys and shapes of an official checkpoint and the outputs
the authors' code produced with deterministic weights; :func:`deterministic_checkpoint`
rebuilds those weights by the rule the data was made with.
"""
import itertools
import math
import os.path as osp
import zlib

import torch

DATA_DIR = osp.join(osp.dirname(__file__), 'data')


def load_reference(name):
    return torch.load(osp.join(DATA_DIR, f'{name}.pt'), weights_only=True)


def _bias_index(num_offsets):
    side = math.isqrt(num_offsets)
    points = list(itertools.product(range(side), range(side)))
    return torch.tensor([abs(a[0] - b[0]) * side + abs(a[1] - b[1])
                         for a in points for b in points]).view(len(points), len(points))


def deterministic_tensor(key, shape, norm_weight_scale=1.0):
    """The tensor the reference data holds for ``key`` (rules tried in order)."""
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    if key.endswith('num_batches_tracked'):
        return torch.zeros((), dtype=torch.long)
    if key.endswith('attention_bias_idxs'):
        return _bias_index(math.isqrt(shape[0]) ** 2)
    if key.endswith('running_var'):
        return torch.rand(shape, generator=g) * 0.5 + 0.75
    if key.endswith('running_mean'):
        return torch.randn(shape, generator=g) * 0.1
    if key.endswith('attention_biases'):
        return torch.randn(shape, generator=g) * 0.5
    if key.endswith('.bias'):
        return torch.randn(shape, generator=g) * 0.1
    if len(shape) == 1:  # norm weights
        return norm_weight_scale * (1 + torch.randn(shape, generator=g) * 0.1)
    return torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))


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
