"""mmevit's checkpoint I/O for mmengine, switched on explicitly: importing this module.

    custom_imports = dict(imports=['mmevit', 'mmevit.runtime'])  # a config (the shipped ones)
    import mmevit.runtime                                          # a script (the tools)

It registers, in mmengine's registries, the loaders for local paths and ``http(s)://`` URLs
(:func:`~mmevit.checkpoint.safe_torch_load`, behind
:func:`~mmevit.checkpoint.download_checkpoint` for URLs; config text a checkpoint carries is
read as data, :func:`~mmevit.checkpoint.neutralize_config_texts`) and the local file backend
that writes atomically (:class:`~mmevit.checkpoint.AtomicLocalBackend`). ``import mmevit``
alone changes none of mmengine's loaders or backends.

For checkpoint rotation that never deletes before its replacement is written, configs also
name ``default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))``
(:class:`~mmevit.engine.AtomicCheckpointHook`, registered with the other hooks).
"""
from mmengine.fileio import register_backend
from mmengine.runner.checkpoint import CheckpointLoader

from mmevit.checkpoint import AtomicLocalBackend, neutralize_config_texts, safe_torch_load
from mmevit.checkpoint.loading import download_in_order


def load_local(filename: str, map_location=None):
    """mmengine's loader for local paths."""
    return neutralize_config_texts(safe_torch_load(filename, map_location), filename)


def load_url(url: str, map_location=None):
    """mmengine's loader for ``http(s)://`` URLs (downloaded once, then as a local file)."""
    return neutralize_config_texts(safe_torch_load(download_in_order(url), map_location), url)


def install() -> None:
    """Register the loaders and the file backend in mmengine (what importing does)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_local, force=True)
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_url,
                                     force=True)
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')


install()
