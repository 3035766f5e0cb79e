"""Train a segmentation (mmseg) or classification (mmpretrain) config with mmengine's Runner.

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--non-strict]
                                 [--cfg-options key=value ...] [--launcher none|pytorch|slurm|mpi]

Checkpoints (see docs/user_guides/reliability.md, section 6):

* they are written atomically (``mmsp.engine.hooks.AtomicCheckpointHook``, named by every mmsp
  training config; this tool also puts it in place of an mmengine ``CheckpointHook``): a kill
  never leaves a half-written file or a ``last_checkpoint`` that names one, and old checkpoints
  are deleted only after the new one is complete;
* a new run into a work dir that already holds checkpoints stops with an error naming them
  (continue it with ``--resume``, or use another ``--work-dir``); ``--resume`` alone continues
  from ``<work dir>/last_checkpoint`` and stops if that is missing while checkpoints are there;
* ``load_from`` (and a resumed checkpoint) must match the model: keys and shapes are checked
  (``mmsp.engine.hooks.CheckedLoadHook``); ``--non-strict`` (config ``load_strict=False``) is the
  switch for a deliberate partial load.

Distributed runs go through ``tools/dist_train.sh`` (torchrun, ``--launcher pytorch``). On a
machine without CUDA they run on the CPU with the gloo backend (see
:func:`mmsp.utils.prepare_cpu_distributed`): mmengine's own ``init_dist('pytorch')`` calls
``torch.cuda.set_device`` and its default DDP wrapper passes ``device_ids=[LOCAL_RANK]``, both of
which fail without a GPU, so this tool sets up the process group and the wrapper itself (through
public config keys, without patching mmengine). ``SyncBN`` has no CPU implementation in torch
(``SyncBatchNorm`` raises for CPU tensors) and is turned into per-process ``BN`` with a warning.

The config family is detected from ``default_scope`` (``'mmseg'`` or ``'mmpretrain'``); both go
through the same Runner. ``import mmsp`` comes first: it registers mmsp's modules and the safe
local checkpoint loader (see :mod:`mmsp.utils.checkpoint`) before the config is read.
"""
import argparse
import os
import os.path as osp
from typing import List, Optional


import mmsp  # noqa: F401  isort:skip  (registers mmsp modules and the safe checkpoint loader)
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from mmsp.utils import (add_checked_load_hook, add_non_strict_argument, check_work_dir,
                        config_family, enable_amp, finish_distributed, prepare_cpu_distributed,
                        use_atomic_checkpoint_hook)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train an mmseg or mmpretrain config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='folder for logs and checkpoints '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume training: without a value from the latest checkpoint in the work dir, '
        'with a value from that checkpoint')
    add_non_strict_argument(parser, 'the model (load_from)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision: AmpOptimWrapper (float16 + dynamic loss scale) on a '
        'GPU, bfloat16 autocast (mmsp CPUAmpOptimWrapper) on a CPU')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. train_cfg.max_iters=100 (key=value pairs; '
        'lists as key="[a,b]")')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher (dist_train.sh uses pytorch)')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options to it."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    config_family(cfg)  # fails early on a config that is neither seg nor cls
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        enable_amp(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    use_atomic_checkpoint_hook(cfg)
    add_checked_load_hook(cfg, strict=False if args.non_strict else None)
    return cfg


def build_runner(cfg: Config) -> Runner:
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    from mmengine.registry import RUNNERS
    return RUNNERS.build(cfg)


def main(argv: Optional[List[str]] = None) -> Runner:
    args = parse_args(argv)
    cfg = build_config(args)
    work_dir_note = check_work_dir(cfg)
    notes = prepare_cpu_distributed(cfg) + ([work_dir_note] if work_dir_note else [])
    runner = build_runner(cfg)
    for note in notes:
        runner.logger.warning(note)
    runner.train()
    finish_distributed()  # after success only: a failing rank must not wait at a barrier
    return runner


if __name__ == '__main__':
    main()
