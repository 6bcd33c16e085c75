"""Command-line glue the tools share, for both tasks: their common arguments, reading the
config, the launcher, mixed precision, the compiled path, test outputs, the end of a run.

The task of a config is named by :func:`mmevit.models.task_of` ('detection' or
'segmentation', from its ``default_scope``); everything that differs between the tasks
branches on that name.
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction

from mmevit.models.builder import task_of
from mmevit.models.data_preprocessors import fixed_batch_shapes


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The arguments mmdet's and mmseg's train and test tools share."""
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value pairs such as '
        'train_dataloader.batch_size=4')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply the common arguments (work dir, overrides, launcher)."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    task_of(cfg)  # fail early on a config of neither task
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def setup_launcher(cfg: Config, args: argparse.Namespace) -> None:
    """Prepare the process for ``cfg.launcher`` before the Runner is built.

    ``torch.distributed.launch`` passes ``--local-rank`` where torchrun sets ``LOCAL_RANK``,
    which mmengine reads. On machines without GPUs, mmengine 0.10.7's ``pytorch`` launcher
    calls ``torch.cuda.set_device`` and wraps the model with ``device_ids=[LOCAL_RANK]``, both
    of which fail; initialising a gloo process group first makes the Runner skip its own
    initialisation, and DDP gets no device ids, as CPU modules require.
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if cfg.launcher != 'pytorch' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.setdefault('model_wrapper_cfg', dict(
        type='MMDistributedDataParallel', broadcast_buffers=False, device_ids=None,
        find_unused_parameters=cfg.get('find_unused_parameters', False)))


def end_process_group() -> None:
    """Destroy the run's process group, if any, while the interpreter is still whole; called
    after a finished run only (after a failure, destroying may wait on unfinished work). Left
    to interpreter exit, gloo's worker threads may still hold tensors and abort the process
    ("terminate called without an active exception", pytorch/pytorch#190489): a finished run
    then exits with SIGABRT and torchrun reports it failed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def setup_amp(cfg: Config) -> None:
    """Mixed precision: fp16 with dynamic loss scaling on GPU, bfloat16 autocast on CPU."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in ('AmpOptimWrapper', 'BF16AutocastOptimWrapper'):
        return
    if wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, got {wrapper!r}')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:
        cfg.optim_wrapper.type = 'BF16AutocastOptimWrapper'


def setup_compile(cfg: Config) -> None:
    """``--compile``: the :class:`~mmevit.engine.CompileHook`, and for detectors batches of
    :func:`fixed_batch_shapes` (:class:`~mmevit.models.FixedShapeDetDataPreprocessor`), so
    that compiled code and CUDA graphs see a few shapes instead of hundreds. A
    ``CompileHook`` the config already has is kept as it is."""
    hooks = list(cfg.get('custom_hooks', []))
    if not any(hook.get('type') in ('CompileHook', 'mmevit.CompileHook') for hook in hooks):
        hooks.append(dict(type='CompileHook'))
    cfg.custom_hooks = hooks
    preprocessor = cfg.model.data_preprocessor
    if (task_of(cfg) == 'detection' and preprocessor.get('type') in (
            'DetDataPreprocessor', 'mmdet.DetDataPreprocessor')):
        shapes = fixed_batch_shapes(cfg)
        if shapes:
            preprocessor.type = 'FixedShapeDetDataPreprocessor'
            preprocessor.batch_shapes = shapes


def setup_test_outputs(cfg: Config, args) -> None:
    """Apply ``--show``, ``--show-dir`` and ``--out`` the way mmdet's / mmseg's test tools do."""
    task = task_of(cfg)
    if args.show or args.show_dir:
        hooks = cfg.get('default_hooks', {})
        if 'visualization' not in hooks:
            raise KeyError('--show/--show-dir need default_hooks.visualization in the config')
        vis = hooks['visualization']
        vis['draw'] = True
        if args.show:
            vis['show'] = True
            vis['wait_time'] = args.wait_time
        if args.show_dir:
            if task == 'detection':
                vis['test_out_dir'] = args.show_dir
            else:
                cfg.visualizer['save_dir'] = args.show_dir
                vis['interval'] = 1  # mmseg draws every 50th image by default
    if args.out:
        if task == 'detection':
            if not args.out.endswith(('.pkl', '.pickle')):
                raise ValueError(f'--out must be a .pkl/.pickle file, got {args.out}')
            evaluators = cfg.test_evaluator
            evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [
                evaluators]
            cfg.test_evaluator = evaluators + [
                dict(type='DumpDetResults', out_file_path=args.out)]
        else:
            cfg.test_evaluator['output_dir'] = args.out
            cfg.test_evaluator['keep_results'] = True
