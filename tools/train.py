"""Train a detector or segmentor from a config (mmdet's and mmseg's ``tools/train.py``)."""
import argparse

from mmengine.runner import Runner

import mmevit  # registers the models
import mmevit.runtime  # noqa: F401  (mmengine loads checkpoints safely, writes atomically)
from mmevit.checkpoint import (CheckpointError, find_resumable_checkpoint,
                               require_training_checkpoint, safe_torch_load)
from mmevit.cli import (add_common_args, end_process_group, load_config, setup_amp,
                        setup_compile, setup_launcher)
from mmevit.datasets import TRAIN_PARTS, check_data_files
from mmevit.models import task_of


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector or a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic mixed precision (fp16 on GPU, bf16 on CPU)')
    parser.add_argument(
        '--compile', action='store_true',
        help='train the backbone compiled (torch.compile; CUDA graphs on GPUs) on batches of '
        'a few fixed shapes: mmevit.engine.CompileHook')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate with the total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, when no path is given, from the newest '
        'checkpoint of the work dir that loads (unreadable ones are skipped and logged)')
    add_common_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_config(args)
    setup_launcher(cfg, args)
    if args.amp:
        setup_amp(cfg)
    if args.compile:
        setup_compile(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError(f'{args.config} has no auto_scale_lr.base_batch_size to scale from')
        cfg.auto_scale_lr.enable = True
    skipped = []
    if args.resume == 'auto':
        found, skipped = find_resumable_checkpoint(cfg.work_dir)
        # nothing to resume: start as a fresh run does, from the config's load_from if any
        if found is not None:
            cfg.resume, cfg.load_from = True, found
    elif args.resume is not None:
        if '://' not in args.resume:  # a weights-only file cannot be resumed: say so now
            require_training_checkpoint(safe_torch_load(args.resume), args.resume)
        cfg.resume = True
        cfg.load_from = args.resume

    # before the Runner creates the work dir: bad data must not leave a half-made run behind
    check_data_files(cfg, TRAIN_PARTS if cfg.get('val_cfg') else TRAIN_PARTS[:1])
    runner = Runner.from_cfg(cfg)
    runner.logger.info(f'mmevit {mmevit.__version__}: training a {task_of(cfg)} model')
    for path, reason in skipped:
        runner.logger.warning(f'--resume: skipping {path}: {reason}')
    if args.resume == 'auto':
        runner.logger.info(f'--resume: resuming from {found}' if found else
                           f'--resume: no readable checkpoint in {cfg.work_dir}, starting anew')
    runner.train()
    end_process_group()


if __name__ == '__main__':
    try:
        main()
    except CheckpointError as err:  # says which file and what is wrong with it
        raise SystemExit(str(err)) from None
