"""Runner pieces mmengine lacks; each registers itself in mmengine's root registries."""
from .hooks import CompileHook, FastPathHook, HalfPrecisionHook
from .optim_wrappers import BF16AutocastOptimWrapper

__all__ = ['BF16AutocastOptimWrapper', 'CompileHook', 'FastPathHook', 'HalfPrecisionHook']
