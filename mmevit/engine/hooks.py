"""Hooks that switch a Runner's model to its inference forms."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmevit.deploy import fast_path


@HOOKS.register_module()
class FastPathHook(Hook):
    """Switch the model to its inference fast path once the checkpoint is loaded.

    ``tools/test.py --fuse`` adds it; see :func:`mmevit.deploy.fast_path`.
    """

    priority = 'VERY_HIGH'

    def before_test(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        fast_path(model)
        runner.logger.info('Testing the inference fast path (BatchNorm folded, channels-last '
                           'backbone)')
