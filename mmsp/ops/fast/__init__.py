"""Optional fast implementations of mmsp's layers, and the one switch that selects them.

Every mmsp module's ``forward`` is the plain form of its paper. Where a faster equivalent
exists (the same function, up to float rounding), the module chooses it **once, at
construction**, from :func:`use_fast_path` and keeps the choice in its ``fast_path`` attribute,
as timm's ``Attention`` does with ``fused_attn``. All such code lives in this package:

* :mod:`.sca`: the Superpixel Cross Attention with the LayerNorm of the pixel projections
  factorised (statistics from the narrow input, values averaged before they are projected)
  and, for cells of at least 16 pixels, the query/key projection absorbed into the
  superpixels, so that the wide pixel q/k/v map never exists;
* :mod:`.layer_norm`: the LayerNorm-of-a-linear-map algebra it rests on.

Switch: the environment variable ``MMSP_FAST`` (``1``, the default, or ``0``) read at import,
:func:`set_fast_path` for the process, the :func:`fast_path` context manager for the modules
built inside it, and :func:`paper_form` to run an already built model in its plain form (the
FLOP counter does this, so that FLOPs are those of the paper's computation). Tests compare
every fast path with the plain form (``tests/test_ops/test_fast``).
"""
import contextlib
import os
from typing import Iterator, Optional

from torch import nn

__all__ = ['use_fast_path', 'set_fast_path', 'fast_path', 'paper_form']

_ENV = 'MMSP_FAST'
_enabled: Optional[bool] = None


def _from_env() -> bool:
    value = os.environ.get(_ENV, '1').strip().lower()
    if value not in ('0', '1', 'true', 'false', 'on', 'off', 'yes', 'no', ''):
        raise ValueError(f'{_ENV}={os.environ[_ENV]!r}: use 1 (fast paths, the default) or 0 '
                         f'(plain form only)')
    return value not in ('0', 'false', 'off', 'no')


def use_fast_path() -> bool:
    """Whether modules built now take their fast implementation (``MMSP_FAST``, default on,
    unless :func:`set_fast_path` / :func:`fast_path` say otherwise)."""
    return _from_env() if _enabled is None else _enabled


def set_fast_path(enable: Optional[bool]) -> None:
    """Select the implementation of modules built from now on (None: back to ``MMSP_FAST``)."""
    global _enabled
    _enabled = None if enable is None else bool(enable)


@contextlib.contextmanager
def fast_path(enable: bool) -> Iterator[None]:
    """Modules built inside the block take (``True``) or skip (``False``) their fast path."""
    global _enabled
    saved = _enabled
    _enabled = bool(enable)
    try:
        yield
    finally:
        _enabled = saved


@contextlib.contextmanager
def paper_form(model: nn.Module) -> Iterator[nn.Module]:
    """Run every module of ``model`` in its plain form inside the block (restored after)."""
    saved = [(m, m.fast_path) for m in model.modules() if hasattr(m, 'fast_path')]
    try:
        for module, _ in saved:
            module.fast_path = False
        yield model
    finally:
        for module, value in saved:
            module.fast_path = value
