"""mmevit: EfficientViT backbones for MMDetection and MMSegmentation.

Importing the package registers every model in mmdet's and mmseg's registries and lets
mmengine load its own checkpoints under torch's ``weights_only`` unpickler.
"""
from . import (
    checkpoint,  # noqa: F401  (installs the safe checkpoint loader)
    models,  # noqa: F401
)
from .version import __version__

__all__ = ['__version__']
