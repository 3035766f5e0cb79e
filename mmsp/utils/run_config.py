"""Small helpers the mmsp tools share: which OpenMMLab family a config belongs to, AMP switch."""
from typing import Optional

import torch
from mmengine.config import Config

__all__ = ['CONFIG_FAMILIES', 'config_family', 'enable_amp', 'build_model_from_config']

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
