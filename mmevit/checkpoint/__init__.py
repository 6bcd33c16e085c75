"""Checkpoint I/O: safe loading, verified downloads, atomic writes, the resume choice.

Importing it changes nothing outside it: mmevit's models and tools call these functions
directly, and :mod:`mmevit.runtime` switches mmengine's own checkpoint loading and saving
over to them when a config or tool asks for it.
"""
from .download import cached_path, download_checkpoint, expected_sha256
from .errors import (CheckpointError, CheckpointWriteError, CorruptCheckpointError,
                     DownloadError, NotACheckpointError, UnsafeCheckpointError)
from .loading import load_checkpoint, safe_torch_load
from .resume import (checkpoints_newest_first, find_resumable_checkpoint,
                     neutralize_config_texts, require_training_checkpoint)
from .saving import AtomicLocalBackend, atomic_write, commit_file

__all__ = ['CheckpointError', 'NotACheckpointError', 'CorruptCheckpointError',
           'UnsafeCheckpointError', 'DownloadError', 'CheckpointWriteError', 'safe_torch_load',
           'load_checkpoint', 'download_checkpoint', 'expected_sha256', 'cached_path',
           'atomic_write', 'commit_file', 'AtomicLocalBackend', 'find_resumable_checkpoint',
           'checkpoints_newest_first', 'require_training_checkpoint', 'neutralize_config_texts']
