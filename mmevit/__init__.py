"""mmevit: EfficientViT backbones for MMDetection and MMSegmentation.

Importing the package registers every model in mmdet's and mmseg's registries (and its hooks
and optimizer wrappers in mmengine's), and lets mmengine load its own checkpoints under
torch's ``weights_only`` unpickler.
"""
from . import checkpoint  # noqa: F401  (installs the safe checkpoint loader)
from . import datasets, engine, models  # noqa: F401  (register themselves)
from .version import __version__

__all__ = ['__version__']
