"""Evaluate a checkpoint (mmdet's and mmseg's ``tools/test.py``): COCO metrics or mIoU."""
import argparse
import os.path as osp

from mmengine.runner import Runner

import mmevit  # noqa: F401  (registers the models)
import mmevit.runtime  # noqa: F401  (mmengine loads checkpoints safely, writes atomically)
from mmevit.checkpoint import CheckpointError, load_checkpoint
from mmevit.cli import (add_common_args, end_process_group, load_config, setup_compile,
                        setup_launcher, setup_test_outputs)
from mmevit.datasets import TEST_PARTS, check_data_files
from mmevit.models.converters import preview, unset_keys, unwrap_state_dict


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file or http(s) URL')
    parser.add_argument(
        '--out', type=str,
        help='detection: a .pkl file to dump the predictions to; segmentation: a directory '
        'to save the predicted label maps in')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir',
                        help='directory (under the work dir) to write drawn predictions to')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--fuse', action='store_true',
        help='evaluate the inference fast path (BN folded, channels-last backbone; '
        'mmevit/deploy/)')
    parser.add_argument(
        '--fp16', action='store_true',
        help='the network in half precision (float16 on GPUs, bfloat16 on CPUs; '
        'post-processing in float32): mmevit.engine.HalfPrecisionHook')
    parser.add_argument(
        '--compile', action='store_true',
        help='run the backbone compiled (torch.compile; CUDA graphs on GPUs) on batches of a '
        'few fixed shapes; with --fuse, the fast path is compiled: mmevit.engine.CompileHook')
    add_common_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    # a local file, or a URL (downloaded once into torch's hub cache)
    if not args.checkpoint.startswith(('http://', 'https://')) and not osp.isfile(
            args.checkpoint):
        raise FileNotFoundError(f'Checkpoint file not found: {args.checkpoint}')
    cfg = load_config(args)
    setup_launcher(cfg, args)
    cfg.load_from = args.checkpoint
    setup_test_outputs(cfg, args)
    if args.fuse:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='FastPathHook')]
    if args.fp16:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='HalfPrecisionHook')]
    if args.compile:
        setup_compile(cfg)
    check_data_files(cfg, TEST_PARTS)
    runner = Runner.from_cfg(cfg)
    refuse_incomplete_checkpoint(runner.model, args.checkpoint)
    runner.test()
    end_process_group()


def refuse_incomplete_checkpoint(model, path: str) -> None:
    """Stop, in one line, where the checkpoint would leave parameters at their random
    initialisation (mmengine only logs them as missing and evaluates anyway)."""
    state_dict = unwrap_state_dict(load_checkpoint(path), prefix=None)
    unset = unset_keys(getattr(model, 'module', model), state_dict)
    if unset:
        raise CheckpointError(
            f'{path} leaves {len(unset)} of the model\'s parameters and buffers unset '
            f'{preview(unset)}: a checkpoint of another model? Nothing was evaluated')


if __name__ == '__main__':
    try:
        main()
    except CheckpointError as err:  # says which file and what is wrong with it
        raise SystemExit(str(err)) from None
