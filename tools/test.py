"""Test a checkpoint of a segmentation (mmseg) or classification (mmpretrain) config.

Usage::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out OUT] [--show-dir DIR]
                                           [--non-strict] [--cfg-options key=value ...]
                                           [--launcher ...]

``CHECKPOINT`` is loaded through mmsp's safe local loader (``torch.load(weights_only=True)`` plus
an exact allow-list, see docs/user_guides/reliability.md, section 6): runner checkpoints written by
``tools/train.py`` and files from ``tools/misc/publish_model.py`` both work; a file that needs any
other pickle global, or that is not a checkpoint at all, is refused with a message naming it.

The weights must match the model (``mmsp.engine.hooks.CheckedLoadHook``): a checkpoint with
missing, unexpected or shape-mismatched keys (another architecture, another ``num_classes``,
another model size) stops the test with an error listing them, before anything is evaluated.
``--non-strict`` (config ``load_strict=False``) loads what matches and logs the rest; a config
whose model takes one part of a checkpoint sets ``load_prefix`` (the zero-shot superpixel
configs take a classifier's ``backbone.*``).

``--out`` follows the stock tool of each family: for segmentation configs it is a folder where
``IoUMetric`` writes the predicted label maps as PNG files; for classification configs it is a
``.pkl`` file with the raw predictions (mmengine ``DumpResults``). ``--show-dir`` saves drawn
predictions of every test image (``SegVisualizationHook`` / mmpretrain ``VisualizationHook``
with ``interval=1``).

``tools/dist_test.sh`` runs it under torchrun; without CUDA the processes use gloo on the CPU
(``mmsp.utils.prepare_cpu_distributed``). The metrics gather every rank's results, so a distributed
test gives the same numbers as a one-process test of the same checkpoint. A configured
``LoggerHook`` becomes ``mmsp.engine.hooks.MainProcessLoggerHook``: mmengine's writes the
metrics JSON from every rank into one file, which two ranks can corrupt.
"""
import argparse
import os
import os.path as osp
from typing import List, Optional

import mmsp  # noqa: F401  isort:skip  (registers mmsp modules and the safe checkpoint loader)
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.runner import Runner
from mmsp.utils import (add_checked_load_hook, add_non_strict_argument, config_family,
                        finish_distributed, prepare_cpu_distributed)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint of an mmseg/mmpretrain config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file (runner or published)')
    parser.add_argument('--work-dir', help='folder for the test logs and metrics '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--out',
        help='seg: folder for predicted label PNGs; cls: .pkl file with the raw predictions')
    parser.add_argument('--show-dir', help='folder for drawn predictions')
    add_non_strict_argument(parser)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. test_dataloader.dataset.indices=10')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher (dist_test.sh uses pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _iou_metrics(evaluator) -> List[ConfigDict]:
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    return [m for m in metrics if str(m.get('type', '')).split('.')[-1] == 'IoUMetric']


def _apply_seg_outputs(cfg: Config, args: argparse.Namespace) -> None:
    if args.out is not None:
        metrics = _iou_metrics(cfg.test_evaluator)
        if not metrics:
            raise ValueError('--out for a segmentation config needs an IoUMetric in '
                             'test_evaluator (it writes the PNG predictions)')
        for metric in metrics:
            metric['output_dir'] = args.out
            metric['keep_results'] = True
    if args.show_dir is not None:
        hook = cfg.default_hooks.get('visualization', None)
        if hook is None:
            raise ValueError('--show-dir needs default_hooks.visualization '
                             '(SegVisualizationHook) in the config')
        hook['draw'] = True
        hook['interval'] = 1  # every test image (the hook's default is every 50th)
        cfg.visualizer['save_dir'] = args.show_dir


def _apply_cls_outputs(cfg: Config, args: argparse.Namespace) -> None:
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out for a classification config must be a .pkl file, got {args.out}')
    if args.show_dir is not None:
        hook = cfg.default_hooks.get('visualization', None)
        if hook is None:
            raise ValueError('--show-dir needs default_hooks.visualization '
                             '(VisualizationHook) in the config')
        hook['enable'] = True
        hook['interval'] = 1
        hook['out_dir'] = args.show_dir


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options to it."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    family = config_family(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if not osp.isfile(osp.expanduser(args.checkpoint)):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint
    cfg.resume = False
    add_checked_load_hook(cfg, strict=False if args.non_strict else None)
    if family == 'seg':
        _apply_seg_outputs(cfg, args)
    else:
        _apply_cls_outputs(cfg, args)
    logger = cfg.get('default_hooks', {}).get('logger', None)
    if logger is not None and logger.get('type') in ('LoggerHook', 'mmengine.LoggerHook'):
        # rank 0 alone writes the metrics JSON (mmsp.engine.hooks.MainProcessLoggerHook)
        logger['type'] = 'mmseg.MainProcessLoggerHook'
    return cfg


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = build_config(args)
    notes = prepare_cpu_distributed(cfg)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    for note in notes:
        runner.logger.warning(note)
    if args.out is not None and config_family(cfg) == 'cls':
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    metrics = runner.test()
    finish_distributed()  # after success only: a failing rank must not wait at a barrier
    return metrics


if __name__ == '__main__':
    main()
