"""Helpers the mmsp tools share: config family, AMP switch, CPU (gloo) distributed set-up,
checkpoint hooks and work-dir rules, names of config methods."""
import glob
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.config import Config

__all__ = [
    'CONFIG_FAMILIES', 'config_family', 'enable_amp', 'build_model_from_config',
    'prepare_cpu_distributed', 'finish_distributed', 'method_names', 'add_checked_load_hook',
    'use_atomic_checkpoint_hook', 'checkpoints_in', 'check_work_dir'
]

#: ``default_scope`` -> family: ``'seg'`` runs an mmseg segmentor, ``'cls'`` an mmpretrain
#: classifier. Both go through mmengine's Runner; the tools differ only in the test outputs
#: (``--out``, ``--show-dir``) and in which model parts ``benchmark.py`` can time.
CONFIG_FAMILIES = {'mmseg': 'seg', 'mmpretrain': 'cls'}


def config_family(cfg: Config) -> str:
    """``'seg'`` or ``'cls'`` from the config's ``default_scope``.

    Raises:
        ValueError: ``default_scope`` is missing or names another library.
    """
    scope = cfg.get('default_scope', None)
    if scope not in CONFIG_FAMILIES:
        raise ValueError(
            f'config {cfg.filename!r} has default_scope={scope!r}; the mmsp tools handle '
            f'{sorted(CONFIG_FAMILIES)} (inherit mmseg::_base_/default_runtime.py or '
            f'mmpretrain::_base_/default_runtime.py)')
    return CONFIG_FAMILIES[scope]


def enable_amp(cfg: Config, cuda: Optional[bool] = None) -> str:
    """Switch ``cfg.optim_wrapper`` to mixed precision, in place; returns the wrapper type.

    On a GPU: ``AmpOptimWrapper`` with a dynamic loss scale (float16), as mmseg's tool does. On
    a CPU: ``mmseg.CPUAmpOptimWrapper`` (bfloat16 autocast, no loss scale), because mmengine's
    ``AmpOptimWrapper`` refuses to run without an accelerator.

    Args:
        cfg (Config): a training config with an ``optim_wrapper`` dict.
        cuda (bool, optional): force the GPU (True) or CPU (False) choice; default: whether
            CUDA is available.

    Raises:
        ValueError: no ``optim_wrapper``, or a wrapper type other than ``OptimWrapper`` (AMP
            would silently replace its behaviour).
    """
    wrapper = cfg.get('optim_wrapper', None)
    if wrapper is None:
        raise ValueError(f'--amp needs an optim_wrapper in config {cfg.filename!r}')
    kind = wrapper.get('type', 'OptimWrapper')
    if kind in ('AmpOptimWrapper', 'CPUAmpOptimWrapper', 'mmseg.CPUAmpOptimWrapper'):
        return kind
    if kind not in ('OptimWrapper', 'mmengine.OptimWrapper'):
        raise ValueError(f'--amp is only supported when optim_wrapper.type is OptimWrapper, '
                         f'got {kind!r}')
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda:
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    else:
        wrapper.type = 'mmseg.CPUAmpOptimWrapper'
        wrapper.dtype = 'bfloat16'
    return wrapper.type


def build_model_from_config(cfg: Config, revert_sync_bn: bool = True) -> 'torch.nn.Module':
    """Build ``cfg.model`` in the config's registry scope, as the Runner would.

    Args:
        cfg (Config): an mmseg or mmpretrain config (see :func:`config_family`).
        revert_sync_bn (bool): turn ``SyncBatchNorm`` layers into ``BatchNorm`` (a model built
            outside a distributed run cannot run SyncBN forward). Defaults to True.

    Returns:
        nn.Module: the model, in training mode, on the CPU, with ``init_weights()`` not called.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, DefaultScope

    config_family(cfg)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    if revert_sync_bn:
        model = revert_sync_batchnorm(model)
    return model


#: norm types that only run on an accelerator (torch ``SyncBatchNorm``, mmcv ``MMSyncBN``).
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'SyncBatchNorm', 'nn.SyncBatchNorm')


def _replace_sync_bn(node: Any) -> int:
    """Turn every ``dict(type=<SyncBN>)`` under ``node`` into ``type='BN'``; returns the count."""
    count = 0
    if isinstance(node, dict):
        kind = node.get('type', None)
        if isinstance(kind, str) and kind.split('.')[-1] in SYNC_BN_TYPES:
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_sync_bn(value)
    return count


def prepare_cpu_distributed(cfg: Config) -> List[str]:
    """Make a ``--launcher pytorch`` run work on CPUs (gloo), in place; no-op with CUDA.

    Without a GPU, mmengine cannot start a distributed run by itself: ``init_dist('pytorch')``
    calls ``torch.cuda.set_device`` and ``Runner.wrap_model`` gives DDP ``device_ids=[rank]``.
    This function, called before the Runner is built:

    1. joins the torchrun process group with the gloo backend
       (``init_process_group('gloo')``, ``env://`` rendezvous); the Runner then sees
       ``is_distributed()`` and skips ``init_dist``;
    2. sets ``cfg.model_wrapper_cfg`` to ``MMDistributedDataParallel`` with ``device_ids=None``
       (CPU modules), ``broadcast_buffers=False`` and ``find_unused_parameters`` from the config,
       as mmengine's default wrapper has;
    3. replaces ``SyncBN``/``MMSyncBN`` norm configs in ``cfg.model`` with ``BN`` and drops
       ``cfg.sync_bn``: torch's ``SyncBatchNorm`` raises for CPU tensors in training. Each process
       then normalises with its own batch statistics (like BN on one GPU), so a run differs from
       a SyncBN run when the per-process batch is small; the returned notes say so.

    Args:
        cfg (Config): the run config with ``cfg.launcher`` set.

    Returns:
        list[str]: warnings to log once the Runner's logger exists (empty when nothing changed).

    Raises:
        ValueError: a launcher other than ``pytorch`` without CUDA (slurm/mpi CPU runs are not
            supported), or a ``model_wrapper_cfg`` that is not a DDP wrapper.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return []
    if launcher != 'pytorch':
        raise ValueError(f'--launcher {launcher} needs CUDA; on a CPU-only machine use '
                         f'--launcher pytorch (tools/dist_train.sh, torchrun) with gloo')
    import torch.distributed as dist
    notes = []
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'gloo') != 'gloo':
        notes.append(f"env_cfg.dist_cfg.backend={dist_cfg['backend']!r} needs a GPU; no CUDA "
                     "device is available, so the run uses the 'gloo' backend on the CPU")
    dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        wrapper = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    kind = str(wrapper.get('type', 'MMDistributedDataParallel')).split('.')[-1]
    if kind not in ('MMDistributedDataParallel', 'DistributedDataParallel'):
        raise ValueError(f'model_wrapper_cfg type {kind!r} is not supported for CPU '
                         'distributed runs; use MMDistributedDataParallel')
    wrapper['device_ids'] = None  # CPU module: DDP must not be given a device
    cfg.model_wrapper_cfg = wrapper
    replaced = _replace_sync_bn(cfg.get('model', {}))
    if cfg.get('sync_bn', None) is not None:
        notes.append(f'sync_bn={cfg.sync_bn!r} ignored: SyncBatchNorm has no CPU implementation')
        cfg.sync_bn = None
    if replaced:
        notes.append(f'{replaced} SyncBN norm config(s) replaced by BN: torch SyncBatchNorm '
                     'does not run on CPU tensors; every process normalises with its own '
                     'batch statistics (per-process BN)')
    for note in notes:
        warnings.warn(note)
    return notes


def finish_distributed() -> None:
    """Leave the process group cleanly at the end of a distributed run (no-op otherwise).

    mmengine never destroys the group it (or :func:`prepare_cpu_distributed`) created; with gloo
    a rank that exits while the group's background threads still run can abort in C++
    teardown (``terminate called without an active exception``, SIGABRT) after all work is done.
    A barrier first makes sure no rank leaves while another still communicates.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def method_names(methods: Sequence[Sequence[str]]) -> List[str]:
    """One distinct name per ``[CONFIG, CHECKPOINT?]`` method of a tool, in order.

    The name is the config's file stem. A config given more than once (e.g. trained and
    random-init weights) gets its checkpoint's stem, or ``no checkpoint``, in brackets; methods
    that are still alike are numbered, so that no table row, title or output of one method can
    replace another's.
    """
    stems = [osp.splitext(osp.basename(m[0]))[0] for m in methods]
    names = []
    for method, stem in zip(methods, stems):
        if stems.count(stem) > 1:
            weights = osp.splitext(osp.basename(method[1]))[0] if len(method) > 1 else None
            stem = f'{stem} [{weights or "no checkpoint"}]'
        names.append(stem)
    seen: Dict[str, int] = {}
    numbered = []
    for name in names:
        if names.count(name) > 1:
            seen[name] = seen.get(name, 0) + 1
            name = f'{name} #{seen[name]}'
        numbered.append(name)
    return numbered


def add_checked_load_hook(cfg: Config, strict: Optional[bool] = None) -> dict:
    """Make the Runner load ``load_from`` / resumed checkpoints strictly, in place.

    Appends :class:`mmsp.engine.hooks.CheckedLoadHook` to ``cfg.custom_hooks`` (replacing one
    already there), built from the config keys ``load_strict`` (default True) and
    ``load_prefix`` (default ``''``).

    Args:
        cfg (Config): the run config.
        strict (bool, optional): overrides ``load_strict`` (the tools' ``--non-strict``).

    Returns:
        dict: the hook config.
    """
    if strict is not None:
        cfg.load_strict = strict
    hook = dict(
        type='mmseg.CheckedLoadHook',
        strict=bool(cfg.get('load_strict', True)),
        prefix=cfg.get('load_prefix', '') or '')
    hooks = [h for h in (cfg.get('custom_hooks', None) or [])
             if str(h.get('type', '')).split('.')[-1] != 'CheckedLoadHook']
    cfg.custom_hooks = hooks + [hook]
    return hook


def use_atomic_checkpoint_hook(cfg: Config) -> bool:
    """Make the run's checkpoint hook :class:`mmsp.engine.hooks.AtomicCheckpointHook`, in place;
    returns whether it is that hook now.

    The mmsp configs name it already; a config (or ``--cfg-options``) with mmengine's
    ``CheckpointHook`` gets it in place of that hook (same arguments), and a config without
    ``default_hooks.checkpoint`` gets it with ``interval=1``, which is what the Runner would add
    by default. A checkpoint hook set to ``None`` (no checkpoints) or of another type (a user's
    own class) is left as it is.
    """
    hooks = cfg.setdefault('default_hooks', {})
    if 'checkpoint' not in hooks:
        hooks['checkpoint'] = dict(type='CheckpointHook', interval=1)
    hook = hooks['checkpoint']
    if hook is None:
        return False
    kind = str(hook.get('type'))
    if kind.split('.')[-1] == 'AtomicCheckpointHook':
        return True
    if kind not in ('CheckpointHook', 'mmengine.CheckpointHook'):
        return False
    hook['type'] = 'mmseg.AtomicCheckpointHook'
    return True


def checkpoints_in(folder: str) -> List[str]:
    """Names of the checkpoint files (``*.pth``) directly in ``folder``, sorted."""
    return sorted(osp.basename(p) for p in glob.glob(osp.join(glob.escape(folder), '*.pth')))


def _listed_names(names: Sequence[str], limit: int = 6) -> str:
    more = len(names) - limit
    return ', '.join(names[:limit]) + (f' and {more} more' if more > 0 else '')


def check_work_dir(cfg: Config) -> Optional[str]:
    """Apply the work-dir rules of ``tools/train.py`` before the Runner exists, in place.

    * ``resume=True`` without ``load_from`` (``--resume`` alone): the checkpoint that
      ``<work_dir>/last_checkpoint`` names becomes ``load_from``. If that file is missing while
      the folder holds checkpoints, or it names a file that does not exist, the run stops: it
      would otherwise start from scratch and overwrite them. A work dir without checkpoints
      and without ``last_checkpoint`` has nothing to resume: training starts from scratch.
    * a new run (no resume) into a work dir that already holds checkpoints stops: its
      checkpoints would silently replace the earlier run's of the same iteration.

    Args:
        cfg (Config): a training config with ``work_dir``, ``resume`` and ``load_from``.

    Returns:
        str or None: a note for the log (the fresh start of ``--resume``), or None.

    Raises:
        FileNotFoundError: ``--resume`` finds nothing to resume where checkpoints are.
        FileExistsError: a new run into a work dir with checkpoints.
    """
    from mmengine.runner import find_latest_checkpoint

    work_dir = cfg.work_dir
    found = checkpoints_in(work_dir) if osp.isdir(work_dir) else []
    if cfg.get('resume', False) and not cfg.get('load_from', None):
        latest = find_latest_checkpoint(work_dir) if osp.isdir(work_dir) else None
        if latest and osp.isfile(latest):
            cfg.load_from = latest
            return None
        if latest or found:
            why = (f'its last_checkpoint names {latest}, which does not exist' if latest else
                   'it has no last_checkpoint file')
            newest = f' (e.g. --resume {osp.join(work_dir, found[-1])})' if found else ''
            raise FileNotFoundError(
                f'--resume found nothing to resume in {work_dir}: {why}, but the folder holds '
                f'{_listed_names(found) or "no checkpoint"}. Resume one checkpoint explicitly '
                f'with --resume CHECKPOINT{newest}, or start a new run in another --work-dir.')
        cfg.resume = False
        return f'--resume: {work_dir} holds no checkpoint to resume; training starts from scratch'
    if not cfg.get('resume', False) and found:
        raise FileExistsError(
            f'work dir {work_dir} already holds checkpoints of an earlier run '
            f'({_listed_names(found)}); a new run would overwrite them. Continue that run with '
            '--resume, train into another --work-dir, or move its checkpoints away first.')
    return None
