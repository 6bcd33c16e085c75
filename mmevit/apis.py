"""Config helpers shared by ``tools/train.py`` and ``tools/test.py`` for both tasks."""
import torch
from mmengine.config import Config

TASKS = {'mmdet': 'detection', 'mmseg': 'segmentation'}


def task_of(cfg: Config) -> str:
    """'detection' or 'segmentation', from the config's ``default_scope``."""
    scope = cfg.get('default_scope')
    if scope not in TASKS:
        raise ValueError(f'Config default_scope must be one of {sorted(TASKS)} to pick the '
                         f'task, got {scope!r}')
    return TASKS[scope]


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
