"""Hooks that switch a Runner's model to its inference fast path or its compiled path."""
import time
from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from mmevit.deploy import DEFAULT_MODULES, compile_model, fast_path, half_precision


def _unwrapped(runner):
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


@HOOKS.register_module()
class FastPathHook(Hook):
    """Switch the model to its inference fast path once the checkpoint is loaded.

    ``tools/test.py --fuse`` adds it; see :func:`mmevit.deploy.fast_path`.
    """

    priority = 'VERY_HIGH'

    def before_test(self, runner) -> None:
        fast_path(_unwrapped(runner))
        runner.logger.info('Testing the inference fast path (BatchNorm folded, channels-last '
                           'backbone)')


@HOOKS.register_module()
class HalfPrecisionHook(Hook):
    """Test the model's network in half precision (:func:`mmevit.deploy.half_precision`):
    float16 on GPUs, bfloat16 on CPUs; post-processing stays float32.

    ``tools/test.py --fp16`` adds it. It runs after :class:`FastPathHook` and before
    :class:`CompileHook`, which then compiles the casts in.
    """

    priority = 'NORMAL'

    def before_test(self, runner) -> None:
        names = half_precision(_unwrapped(runner))
        runner.logger.info(f'Testing {names} in half precision (autocast)')


@HOOKS.register_module()
class CompileHook(Hook):
    """Run parts of the model compiled (:func:`mmevit.deploy.compile_model`): torch.compile,
    with CUDA graphs on GPUs under ``mode='reduce-overhead'``.

    ``tools/train.py --compile`` and ``tools/test.py --compile`` add it (see
    :func:`mmevit.cli.setup_compile`); in a config::

        custom_hooks = [dict(type='CompileHook', modules=('backbone', 'neck'))]

    The model is compiled once, when training or testing starts: after the checkpoint is
    loaded or resumed, after the model is wrapped for DDP, and after :class:`FastPathHook`.
    Compilation itself happens in the first iteration of each phase (training, validation,
    testing), whose time is logged.

    Args:
        modules (Sequence[str]): Submodules to compile. Defaults to ``('backbone', )``.
        mode (str, optional): ``torch.compile`` mode. Defaults to ``'reduce-overhead'``.
        dynamic (bool, optional): ``torch.compile``'s ``dynamic``. Defaults to False (one
            specialisation per shape, as CUDA graphs need).
        backend (str): ``torch.compile`` backend; ``mode`` applies to ``'inductor'`` only.
            ``'aot_eager'`` traces as inductor does but runs eager kernels, which checks a
            set-up quickly. Defaults to ``'inductor'``.
    """

    priority = 'LOW'

    def __init__(self, modules: Sequence[str] = DEFAULT_MODULES,
                 mode: Optional[str] = 'reduce-overhead', dynamic: Optional[bool] = False,
                 backend: str = 'inductor'):
        self.modules = tuple(modules)
        self.mode = mode if backend == 'inductor' else None
        self.dynamic = dynamic
        self.backend = backend
        self.compiled = False
        # start of each phase's first iteration, where compilation happens; logged once
        self.first_iteration_start = {}
        self.logged_phases = set()

    def _compile(self, runner) -> None:
        if self.compiled:
            return
        names = compile_model(_unwrapped(runner), self.modules, mode=self.mode,
                              dynamic=self.dynamic, backend=self.backend)
        self.compiled = True
        runner.logger.info(f'Compiled {names} (torch.compile, backend={self.backend}, '
                           f'mode={self.mode}, dynamic={self.dynamic}); the first iteration '
                           f'of each phase compiles')

    def _begin(self, phase: str) -> None:
        # a new step for CUDA graphs: outputs of the previous replay may be overwritten
        torch.compiler.cudagraph_mark_step_begin()
        self.first_iteration_start.setdefault(phase, time.perf_counter())

    def _end(self, runner, phase: str) -> None:
        if phase in self.logged_phases:
            return
        self.logged_phases.add(phase)
        seconds = time.perf_counter() - self.first_iteration_start[phase]
        runner.logger.info(f'{phase}: the first iteration took {seconds:.1f} s '
                           f'(torch.compile traces and compiles in it)')

    def before_train(self, runner) -> None:
        self._compile(runner)

    def before_val(self, runner) -> None:
        self._compile(runner)

    def before_test(self, runner) -> None:
        self._compile(runner)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._begin('train')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._end(runner, 'train')

    def before_val_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._begin('val')

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._end(runner, 'val')

    def before_test_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._begin('test')

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._end(runner, 'test')
