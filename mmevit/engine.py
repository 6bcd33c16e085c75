"""Runner pieces mmengine lacks: bf16 autocast on CPU, the inference fast path in tests."""
from contextlib import contextmanager

import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper

from mmevit.deploy import fast_path


class BF16AutocastOptimWrapper(OptimWrapper):
    """Runs forward passes under ``torch.autocast('cpu', dtype=torch.bfloat16)``.

    mmengine's ``AmpOptimWrapper`` only supports GPUs/NPUs; bfloat16 has float32's range, so
    no loss scaling is needed on CPU.
    """

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield


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
