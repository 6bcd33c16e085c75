"""The benchmark behind ``tools/benchmark.py``: one module per setting (a :class:`Setting`
that adds its arguments, runs and returns its rows, and turns them into tables), the models
measured (:mod:`.subjects`) and the generic measurements (:mod:`.measure`)."""
from .base import Progress, Setting, Table, ratio
from .cpu224 import CPU224
from .deployment import Deployment
from .detection import Detection
from .fastpath import FastPath
from .gpu import GPU
from .kernels import Kernels
from .measure import (count_kernels, in_fresh_process, interleaved_median_times, median_time,
                      peak_memory_during, profile_by_kind, torch_threads)
from .training import Training

#: Every setting, in the order they run.
SETTINGS = {s.name: s
            for s in (CPU224, Detection, FastPath, Training, Kernels, GPU, Deployment)}

__all__ = ['SETTINGS', 'Setting', 'Progress', 'Table', 'ratio', 'count_kernels',
           'in_fresh_process', 'interleaved_median_times', 'median_time', 'peak_memory_during',
           'profile_by_kind', 'torch_threads']
