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
added, replaced or removed an entry is refused and the table restored (filling in mmengine's own
defaults, which ``__setstate__`` always does, is the only change allowed).

Files that are not checkpoints at all (empty, truncated, neither torch's zip format nor its
legacy pickle format) raise :class:`NotACheckpointError` naming the file, before anything is
unpickled.

Strict loading into a model
---------------------------
:func:`load_state_dict_checked` loads a state dict with torch's ``load_state_dict(strict=True)``
(the model's own load hooks run, e.g. SPFormer's position-embedding resize) and turns a mismatch
into :class:`CheckpointMismatchError` naming the file and the missing, unexpected and
shape-mismatched keys. :func:`load_model_checkpoint` reads a file and loads it that way (used by
``tools/visualization/visualize_superpixels.py``);
:class:`mmsp.engine.hooks.CheckedCheckpointLoadHook` does the same for the Runner's
``load_from`` / ``resume`` (``tools/train.py``, ``tools/test.py``, ``tools/eval_superpixels.py``).
``strict=False`` is the explicit switch for a deliberate partial load (mmengine's lenient loader,
which logs what did not match).

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
import zipfile
from collections import OrderedDict
from contextlib import contextmanager
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict

__all__ = [
    'UnsafeCheckpointError', 'NotACheckpointError', 'CheckpointMismatchError',
    'checkpoint_safe_globals', 'allow_checkpoint_globals', 'history_buffer_statistic',
    'find_unsafe_globals', 'check_checkpoint_file', 'load_from_local_safe',
    'register_safe_checkpoint_loader', 'revise_key', 'state_dict_of', 'load_state_dict_checked',
    'load_model_checkpoint'
]

SafeGlobal = Union[Callable, Tuple[Callable, str]]

#: numpy dtype characters whose dtype classes may be rebuilt: bool, signed/unsigned integers,
#: floats and complex numbers. Object ('O'), void ('V'), bytes ('S') and str ('U') are excluded.
_NUMERIC_DTYPE_CHARS = '?bhilqBHILQefdgFDG'
#: HistoryBuffer methods mmengine pickles as ``getattr(HistoryBuffer, name)``.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'mean', 'current')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a pickle global outside mmsp's allow-list; nothing from it was used."""


class NotACheckpointError(ValueError):
    """A file is not a (complete) ``torch.save`` file: empty, truncated or something else."""


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's keys or tensor shapes do not match the model it is loaded into."""


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


def _refusal(filename: str, err: Exception) -> Exception:
    """:class:`UnsafeCheckpointError` naming the refused globals of ``filename``.

    A weights-only failure that names no global at all (e.g. an unknown pickle opcode) is
    reported as a damaged or foreign file (:class:`NotACheckpointError`).
    """
    offending = find_unsafe_globals(filename)
    if not offending:  # a refused getattr, or a BUILD of a type outside the list
        offending = re.findall(r'mmsp refused (builtins\.getattr\(.*?\)):', str(err))
        offending += re.findall(r'GLOBAL (\S+) was not an allowed global', str(err))
        offending += re.findall(r'(?:types allowlisted via `add_safe_globals`, but got|'
                                r'Unsupported global: GLOBAL) (\S+)', str(err))
    if not offending:
        detail = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        return NotACheckpointError(
            f'{filename!r} is not a readable checkpoint: its pickle data could not be read '
            f'({detail}); the file is damaged or was not written by torch.save')
    return UnsafeCheckpointError(
        f'Refusing to load checkpoint {filename!r}: it needs pickle global(s) outside mmsp\'s '
        f'allow-list: {", ".join(offending)}. Only tensors, plain Python containers, numpy '
        f'arrays/scalars and mmengine HistoryBuffer are accepted (torch.load(weights_only=True)). '
        f'If you trust this file, convert it once with "python tools/misc/publish_model.py '
        f'--trust-input IN OUT"; see docs/user_guides/reliability.md, section 6.')


def check_checkpoint_file(filename: str) -> None:
    """Refuse a file that cannot be a ``torch.save`` file, without unpickling anything.

    torch writes either a zip archive (the default since torch 1.6) or, in the legacy format, a
    pickle stream that starts with the PROTO opcode (byte ``0x80``). A zip archive whose central
    directory (at its end) is missing was cut short.

    Args:
        filename (str): local path of an existing file.

    Raises:
        NotACheckpointError: the file is empty, truncated, or in neither format; the message
            names the file.
    """
    size = osp.getsize(filename)
    if size == 0:
        raise NotACheckpointError(
            f'{filename!r} is not a checkpoint: the file is empty (0 bytes), e.g. a copy or a save '
            'that was interrupted')
    with open(filename, 'rb') as f:
        head = f.read(4)
    if head.startswith(b'PK'):
        if not zipfile.is_zipfile(filename):
            raise NotACheckpointError(
                f'{filename!r} is not a complete checkpoint: it starts as a torch.save zip '
                f'archive but its end is missing ({size} bytes); the file is truncated (an '
                'interrupted copy, download or save)')
    elif not head.startswith(b'\x80'):
        raise NotACheckpointError(
            f'{filename!r} is not a checkpoint: it is neither a torch.save zip archive nor a '
            f'legacy torch.save pickle (first bytes {head!r})')


def _statistics_changes(before: dict) -> List[str]:
    """Names of ``HistoryBuffer._statistics_methods`` entries that unpickling added, replaced or
    removed; filling in mmengine's own defaults (what ``__setstate__`` does) is not a change."""
    table = HistoryBuffer._statistics_methods
    changed = {key for key in before if table.get(key) is not before[key]}
    for key, value in table.items():
        if key in before:
            continue
        if key not in _HISTORY_BUFFER_STATISTICS or value is not getattr(HistoryBuffer, key):
            changed.add(key)
    return sorted(map(str, changed))


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
        NotACheckpointError: the file is empty, truncated or not a ``torch.save`` file.
        UnsafeCheckpointError: the file needs a global outside the allow-list, or changes
            ``HistoryBuffer``'s statistics table; the message names the file and the globals.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    check_checkpoint_file(filename)
    statistics = dict(HistoryBuffer._statistics_methods)
    with allow_checkpoint_globals():
        try:
            checkpoint = torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            raise _refusal(filename, err) from err
        except EOFError as err:
            raise NotACheckpointError(
                f'{filename!r} is not a complete checkpoint: it ends before its data does '
                '(truncated)') from err
        except RuntimeError as err:
            if 'PytorchStreamReader' not in str(err):
                raise
            raise NotACheckpointError(
                f'{filename!r} is not a readable checkpoint: its zip archive is damaged '
                f'({str(err).strip().splitlines()[0]})') from err
        finally:
            changed = _statistics_changes(statistics)
            if changed:
                HistoryBuffer._statistics_methods.clear()
                HistoryBuffer._statistics_methods.update(statistics)
    if changed:
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename!r}: it adds or replaces HistoryBuffer '
            f'statistics methods {changed} (the class-level table was restored)')
    return checkpoint


def register_safe_checkpoint_loader() -> None:
    """Make :func:`load_from_local_safe` mmengine's loader for local paths (idempotent)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)


# ---------------------------------------------------------------------- strict loading
#: key revisions applied before loading, as mmengine's loaders do (DDP's ``module.`` prefix).
DEFAULT_REVISE_KEYS = ((r'^module\.', ''), )
#: keys listed per category in a mismatch message before "... (N more)".
_LISTED_KEYS = 8


def revise_key(key: str, revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS) -> str:
    """``key`` after every ``(pattern, replacement)`` regular expression of ``revise_keys``."""
    for pattern, replacement in revise_keys:
        key = re.sub(pattern, replacement, key)
    return key


def state_dict_of(checkpoint: Mapping,
                  revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS) -> 'OrderedDict':
    """The model weights of a loaded checkpoint, keys revised as mmengine's loaders do.

    Args:
        checkpoint (Mapping): a runner or published checkpoint (weights under ``state_dict``) or
            a bare state dict.
        revise_keys (Sequence[tuple]): ``(pattern, replacement)`` regular expressions applied to
            every key in turn. Defaults to removing DDP's ``module.`` prefix.

    Returns:
        OrderedDict: the tensors by (revised) name, with torch's ``_metadata`` kept.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    metadata = getattr(state_dict, '_metadata', None)
    revised = OrderedDict((revise_key(k, revise_keys), v) for k, v in state_dict.items())
    if metadata is not None:
        revised._metadata = metadata
    return revised


def _listed(keys: Sequence[str]) -> str:
    shown = ', '.join(keys[:_LISTED_KEYS])
    more = len(keys) - _LISTED_KEYS
    return f'{shown}, ... ({more} more)' if more > 0 else shown


def _mismatch_report(error: str) -> List[str]:
    """Readable lines from torch's strict ``load_state_dict`` error (keys capped per kind)."""
    lines, shapes, other = [], [], []
    size = re.compile(r'size mismatch for (\S+): copying a param with shape torch\.Size\((.*?)\) '
                      r'from checkpoint, the shape in current model is torch\.Size\((.*?)\)')
    for line in error.splitlines()[1:]:
        line = line.strip()
        keys = re.findall(r'"([^"]+)"', line)
        if line.startswith('Missing key(s)'):
            lines.append(f'missing in the checkpoint ({len(keys)}): {_listed(keys)}')
        elif line.startswith('Unexpected key(s)'):
            lines.append(f'unexpected (not in the model) ({len(keys)}): {_listed(keys)}')
        elif size.search(line):
            key, ckpt, model = size.search(line).groups()
            shapes.append(f'{key} {ckpt} in the checkpoint vs {model} in the model')
        elif line:
            other.append(line)
    if shapes:
        lines.append(f'shape mismatch ({len(shapes)}): ' + '; '.join(shapes[:_LISTED_KEYS]) +
                     (f'; ... ({len(shapes) - _LISTED_KEYS} more)'
                      if len(shapes) > _LISTED_KEYS else ''))
    return lines + other if lines else [error]


def load_state_dict_checked(model: torch.nn.Module,
                            state_dict: Mapping[str, torch.Tensor],
                            source: str,
                            strict: bool = True,
                            prefix: str = '',
                            logger: Optional[Any] = None) -> Dict[str, List[str]]:
    """Load a state dict into a model, refusing (by default) anything that does not match.

    Args:
        model (nn.Module): the model, or a model wrapper (its ``module`` is loaded).
        state_dict (Mapping): tensors by name, as in ``model.state_dict()`` (see
            :func:`state_dict_of`).
        source (str): where the weights come from (the file), for the messages.
        strict (bool): True (default): torch's ``load_state_dict(strict=True)``: the model's own
            load hooks run (e.g. SPFormer's position-embedding resize), then every model tensor
            must come from the checkpoint with its shape and every used checkpoint key must
            belong to the model. False: a deliberate partial load with mmengine's lenient loader,
            which loads what matches and logs the rest.
        prefix (str): use only the checkpoint keys that start with ``prefix`` (names unchanged):
            ``'backbone.'`` takes the backbone of a classifier or segmentor checkpoint for a
            model that is only a backbone wrapper (``SuperpixelPredictor``); the other keys are
            logged as not used. Defaults to ``''`` (every key).
        logger (logging.Logger, optional): defaults to mmengine's current logger.

    Returns:
        dict: ``loaded`` (the checkpoint keys given to the model) and ``unused`` (the keys left
        out by ``prefix``).

    Raises:
        CheckpointMismatchError: ``strict`` and the keys or shapes differ, or no checkpoint key
            starts with ``prefix``; the message names ``source`` and the keys.
    """
    if is_model_wrapper(model):
        model = model.module
    logger = logger or MMLogger.get_current_instance()
    used = OrderedDict((k, v) for k, v in state_dict.items() if k.startswith(prefix))
    unused = [k for k in state_dict if not k.startswith(prefix)]
    if hasattr(state_dict, '_metadata'):
        used._metadata = state_dict._metadata
    name = type(model).__name__
    if not used:
        raise CheckpointMismatchError(
            f'checkpoint {source!r} has no weights for {name}: none of its {len(state_dict)} keys '
            f'starts with {prefix!r} ({_listed(list(state_dict))})')
    if strict:
        try:
            model.load_state_dict(used, strict=True)
        except RuntimeError as err:
            report = '\n  '.join(_mismatch_report(str(err)))
            raise CheckpointMismatchError(
                f'checkpoint {source!r} does not match the model ({name}):\n  {report}\n'
                'Is it the checkpoint of this config? Nothing was run with it. For a deliberate '
                'partial load pass --non-strict (or set load_strict=False in the config); to use '
                "only one part of a checkpoint set load_prefix (e.g. 'backbone.').") from err
    else:
        logger.warning(f'non-strict load of {source}: keys or shapes that do not match {name} '
                       'are skipped and keep their initial values (mmengine lists them)')
        load_state_dict(model, used, strict=False, logger=logger)
    if unused:
        logger.info(f'{source}: loaded the {len(used)} tensors under {prefix!r}; '
                    f'{len(unused)} other keys not used ({_listed(unused)})')
    return dict(loaded=list(used), unused=unused)


def load_model_checkpoint(model: torch.nn.Module,
                          filename: str,
                          strict: bool = True,
                          prefix: str = '',
                          map_location: Any = 'cpu',
                          logger: Optional[Any] = None) -> dict:
    """Read a checkpoint (mmengine's loaders, so local files get the safe loader) and load it
    into ``model`` with :func:`load_state_dict_checked`.

    Args:
        model (nn.Module): the model.
        filename (str): local path or URL.
        strict, prefix, logger: see :func:`load_state_dict_checked`.
        map_location: as for :func:`torch.load`. Defaults to ``'cpu'``.

    Returns:
        dict: the loaded checkpoint.

    Raises:
        NotACheckpointError: the file holds no checkpoint dict.
        CheckpointMismatchError: see :func:`load_state_dict_checked`.
    """
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location=map_location)
    if not isinstance(checkpoint, dict):
        raise NotACheckpointError(f'{filename!r} holds a {type(checkpoint).__name__}, not a '
                                  'checkpoint dict')
    load_state_dict_checked(model, state_dict_of(checkpoint), filename, strict, prefix, logger)
    return checkpoint
