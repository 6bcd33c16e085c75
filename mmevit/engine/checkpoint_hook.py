"""Checkpoint rotation that never reduces what is on disk."""
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS


class _DeferredRemovals:
    """A file backend whose ``remove``/``rmtree`` wait for :meth:`commit_removals`."""

    def __init__(self, backend):
        self._backend = backend
        self._pending = []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def remove(self, filepath) -> None:
        self._pending.append((self._backend.remove, filepath))

    def rmtree(self, dir_path) -> None:
        self._pending.append((self._backend.rmtree, dir_path))

    def commit_removals(self, keep=()) -> None:
        """Carry out the removals asked for so far, except of the paths in ``keep``."""
        pending, self._pending = self._pending, []
        for remove, path in pending:
            if path not in keep and self._backend.exists(path):
                remove(path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose rotation never reduces what is on disk.

    mmengine removes the oldest checkpoint (``max_keep_ckpts``) and the previous best
    (``save_best``) before it writes their successor, so a run killed during that write, or
    a write that fails, can leave no checkpoint at all (with ``max_keep_ckpts=1``). Here the
    removals wait until the new checkpoint is committed. Arguments as mmengine's; the shipped
    runtime configs name it (``default_hooks.checkpoint.type``).
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)  # sets file_backend (and trims beyond max_keep_ckpts)
        self.file_backend = _DeferredRemovals(self.file_backend)

    def _just_written(self) -> set:
        best = getattr(self, 'best_ckpt_path_dict', None) or {}
        return {self.last_ckpt, getattr(self, 'best_ckpt_path', None), *best.values()}

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        super()._save_checkpoint_with_step(runner, step, meta)
        self.file_backend.commit_removals(keep=self._just_written())

    def _save_best_checkpoint(self, runner, metrics) -> None:
        super()._save_best_checkpoint(runner, metrics)
        self.file_backend.commit_removals(keep=self._just_written())
