"""mmevit: EfficientViT backbones for MMDetection and MMSegmentation.

Importing the package registers what configs name by ``type``: the models in mmdet's and
mmseg's registries, the data transforms, and the hooks and optimizer wrappers in mmengine's.
It changes nothing else; ``import mmevit.runtime`` (a config's ``custom_imports``) switches
mmengine's checkpoint loading and saving to mmevit's safe ones.
"""
from . import datasets, engine, models  # noqa: F401  (register themselves)
from .version import __version__

__all__ = ['__version__']
