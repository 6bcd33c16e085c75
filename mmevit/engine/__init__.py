"""Runner pieces mmengine lacks; each registers itself in mmengine's root registries."""
from .checkpoint_hook import AtomicCheckpointHook
from .hooks import CompileHook, FastPathHook, HalfPrecisionHook
from .optim_wrappers import BF16AutocastOptimWrapper

__all__ = ['AtomicCheckpointHook', 'BF16AutocastOptimWrapper', 'CompileHook', 'FastPathHook',
           'HalfPrecisionHook']
