"""Safe loading of local checkpoints on torch >= 2.6: ``weights_only=True`` + an exact allow-list.

Why this module exists
----------------------
torch >= 2.6 unpickles with ``weights_only=True`` by default, and mmengine 0.10.7 (the newest
release) calls ``torch.load(filename, map_location)`` without the argument. A runner checkpoint
(``iter_N.pth``) holds more than tensors: ``message_hub`` stores
:class:`mmengine.logging.HistoryBuffer` objects whose state is numpy arrays, and logged metrics
are numpy scalars. Such a file is therefore refused by ``--resume``, ``load_from``,
``tools/test.py CONFIG CKPT`` and ``init_cfg=dict(type='Pretrained', checkpoint=...)``.

What mmsp does instead of ``weights_only=False``
------------------------------------------------
Importing :mod:`mmsp` registers :func:`load_from_local_safe` as mmengine's loader for local paths
(the empty prefix), through the public extension point
``CheckpointLoader.register_scheme(prefixes='', loader=..., force=True)``. It still unpickles with
``weights_only=True``; the only additions to torch's own tensor allow-list are the *data-only*
entries of :func:`checkpoint_safe_globals`:

* ``mmengine.logging.history_buffer.HistoryBuffer`` -- rebuilt with ``__new__`` and its own
  ``__setstate__`` (which only stores values);
* numpy's array/scalar reconstruction (``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``) and
  the *numeric and bool* dtype classes (``numpy.dtypes.Float64DType``, ...), under both the
  numpy-2 (``numpy._core``) and numpy-1 (``numpy.core``) module names;
* the name ``builtins.getattr``, bound **not** to :func:`getattr` but to
  :func:`history_buffer_statistic`, which can only return one of ``HistoryBuffer``'s own
  statistics methods (``min``, ``max``, ``mean``, ``current``). mmengine writes these as
  ``getattr(HistoryBuffer, 'min')`` because ``HistoryBuffer.__getstate__`` saves its
  ``statistics_methods`` table; any other ``getattr(obj, name)`` in a file is refused. Binding
  the real ``getattr`` would let a file fetch arbitrary attributes of allowed objects, so it is
  never allowed.

After loading, the class-level ``HistoryBuffer._statistics_methods`` table (which
``HistoryBuffer.__setstate__`` updates) is compared with its state before the load; a file that
changed it is refused and the table restored.

Nothing callable with side effects is allowed: the real ``getattr``, ``eval``, ``os.system``,
``subprocess``, arbitrary classes, object/void/string dtypes. A checkpoint that needs anything
else raises :class:`UnsafeCheckpointError` naming the file and the offending globals; convert a
file you trust with ``tools/misc/publish_model.py --trust-input``. The http(s) loaders of
mmengine are
left untouched: they call torch's default ``weights_only=True`` without the allow-list, so
published checkpoints (tensors + plain metadata, see ``tools/misc/publish_model.py``) load from
URLs,
runner checkpoints do not.
"""
import os.path as osp
import pickle
import re
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'UnsafeCheckpointError', 'checkpoint_safe_globals', 'allow_checkpoint_globals',
    'history_buffer_statistic', 'find_unsafe_globals', 'load_from_local_safe',
    'register_safe_checkpoint_loader'
]

SafeGlobal = Union[Callable, Tuple[Callable, str]]

#: numpy dtype characters whose dtype classes may be rebuilt: bool, signed/unsigned integers,
#: floats and complex numbers. Object ('O'), void ('V'), bytes ('S') and str ('U') are excluded.
_NUMERIC_DTYPE_CHARS = '?bhilqBHILQefdgFDG'
#: HistoryBuffer methods mmengine pickles as ``getattr(HistoryBuffer, name)``.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'mean', 'current')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a pickle global outside mmsp's allow-list; nothing from it was used."""


def history_buffer_statistic(owner: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` while unpickling: ``HistoryBuffer``'s statistics only.

    Args:
        owner: must be the :class:`~mmengine.logging.HistoryBuffer` class itself.
        name (str): one of the statistics methods defined on that class (``min``, ``max``,
            ``mean``, ``current``).

    Returns:
        The function ``getattr(HistoryBuffer, name)``.

    Raises:
        pickle.UnpicklingError: any other ``(owner, name)``.
    """
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'mmsp refused builtins.getattr({getattr(owner, "__qualname__", type(owner).__name__)}, '
        f'{name!r}): only HistoryBuffer statistics methods {_HISTORY_BUFFER_STATISTICS} are '
        f'allowed')


def _numpy_core() -> Any:
    """``numpy._core`` on numpy 2, ``numpy.core`` on numpy 1."""
    return np._core if hasattr(np, '_core') else np.core  # pragma: no cover - numpy 1 branch


def checkpoint_safe_globals() -> List[SafeGlobal]:
    """The exact extra globals a runner checkpoint needs besides torch's tensor allow-list.

    Returns:
        list: objects or ``(object, 'module.qualname')`` pairs for
        :func:`torch.serialization.add_safe_globals`; the pairs give the numpy-1 spelling
        (``numpy.core.multiarray.*``) of the same functions so that checkpoints written under
        either numpy major version load.
    """
    multiarray = _numpy_core().multiarray
    entries: List[SafeGlobal] = [
        HistoryBuffer, np.ndarray, np.dtype, (history_buffer_statistic, 'builtins.getattr')
    ]
    for func in (multiarray._reconstruct, multiarray.scalar):
        entries.append(func)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            entries.append((func, f'{module}.{func.__name__}'))
    dtype_classes = {type(np.dtype(char)) for char in _NUMERIC_DTYPE_CHARS}
    entries.extend(sorted(dtype_classes, key=lambda cls: cls.__name__))
    return entries


def _global_name(entry: SafeGlobal) -> str:
    if isinstance(entry, tuple):
        return entry[1]
    return f'{entry.__module__}.{entry.__qualname__}'


@contextmanager
def allow_checkpoint_globals(extra: Sequence[SafeGlobal] = ()) -> Iterator[None]:
    """Temporarily add :func:`checkpoint_safe_globals` (and ``extra``) to torch's allow-list.

    Unlike ``torch.serialization.safe_globals``, this restores the allow-list exactly as it was
    on exit, so globals a user had added before are not removed.

    Args:
        extra (Sequence): further objects or ``(object, name)`` pairs to allow.
    """
    before = list(torch.serialization.get_safe_globals())
    torch.serialization.add_safe_globals(checkpoint_safe_globals() + list(extra))
    try:
        yield
    finally:
        torch.serialization.clear_safe_globals()
        if before:
            torch.serialization.add_safe_globals(before)


def find_unsafe_globals(filename: str) -> List[str]:
    """Globals referenced by a zip-format checkpoint that neither torch nor mmsp allows.

    Args:
        filename (str): path of a ``torch.save`` file.

    Returns:
        list[str]: ``module.name`` strings, sorted; empty when every global is allowed or when
        the file is not in torch's zip format (legacy files cannot be scanned this way).
    """
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    except Exception:  # legacy (non-zip) format or unreadable archive
        return []
    allowed = {_global_name(entry) for entry in checkpoint_safe_globals()}
    allowed.update(_global_name(entry) for entry in torch.serialization.get_safe_globals())
    return sorted(name for name in found if name not in allowed)


def _refusal(filename: str, err: Exception) -> UnsafeCheckpointError:
    offending = find_unsafe_globals(filename)
    if not offending:  # a refused getattr, or a BUILD of a type outside the list
        offending = re.findall(r'mmsp refused (builtins\.getattr\(.*?\)):', str(err))
        offending += re.findall(r'GLOBAL (\S+) was not an allowed global', str(err))
    what = ', '.join(offending) if offending else str(err).strip().splitlines()[-1]
    return UnsafeCheckpointError(
        f'Refusing to load checkpoint {filename!r}: it needs pickle global(s) outside mmsp\'s '
        f'allow-list: {what}. Only tensors, plain Python containers, numpy arrays/scalars and '
        f'mmengine HistoryBuffer are accepted (torch.load(weights_only=True)). If you trust this '
        f'file, convert it once with '
        f'"python tools/misc/publish_model.py --trust-input IN OUT"; see '
        f'README, "Checkpoints and trust".')


def _statistics_tampered(before: dict) -> bool:
    """Whether unpickling changed ``HistoryBuffer._statistics_methods`` beyond its defaults."""
    for key, value in HistoryBuffer._statistics_methods.items():
        if key in before:
            if value is not before[key]:
                return True
        elif key not in _HISTORY_BUFFER_STATISTICS or value is not getattr(HistoryBuffer, key):
            return True
    return False


def load_from_local_safe(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine loader for local files: ``torch.load(weights_only=True)`` + the allow-list.

    Registered for the empty prefix by :func:`register_safe_checkpoint_loader` (on
    ``import mmsp``), so ``load_from``, ``resume``, ``tools/test.py`` and
    ``init_cfg=dict(type='Pretrained', ...)`` use it for local paths.

    Args:
        filename (str): local checkpoint path (``~`` is expanded).
        map_location: as for :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict).

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: the file needs a global outside the allow-list; the message names
            the file and the globals.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    statistics = dict(HistoryBuffer._statistics_methods)
    with allow_checkpoint_globals():
        try:
            checkpoint = torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            raise _refusal(filename, err) from err
        finally:
            tampered = _statistics_tampered(statistics)
            if tampered:
                HistoryBuffer._statistics_methods.clear()
                HistoryBuffer._statistics_methods.update(statistics)
    if tampered:
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename!r}: it replaces HistoryBuffer statistics '
            f'methods (the class-level table was restored)')
    return checkpoint


def register_safe_checkpoint_loader() -> None:
    """Make :func:`load_from_local_safe` mmengine's loader for local paths (idempotent)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)
