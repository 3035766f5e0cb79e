"""Strip a runner checkpoint to tensors + plain metadata, loadable with ``weights_only=True``.

Usage::

    python tools/misc/publish_model.py IN.pth OUT.pth [--no-hash] [--keep-cfg] [--trust-input]
        [--force]

The output holds ``state_dict`` (the model's tensors, on the CPU) and ``meta`` with only plain
Python values: ``epoch``, ``iter``, ``mmengine_version``, ``experiment_name``, ``seed``,
``time``, ``dataset_meta`` (classes, palette, ...) and, with ``--keep-cfg``, the config text.
Optimizer and scheduler states and the message hub (numpy arrays, ``HistoryBuffer``) are dropped.
The result is checked by loading it back with ``torch.load(weights_only=True)`` and *no* extra
allow-list; its SHA-256 prefix is appended to the name (``OUT-<sha256[:8]>.pth``) unless
``--no-hash``.

The output is written to a temporary file in its folder and renamed once complete and verified
(:func:`mmsp.utils.atomic_write`), so an interrupted run leaves no partial file. The tool refuses
an output that is the input (``OUT`` = ``IN``, also after the hash is appended) and an output
that exists already, unless ``--force`` (which still never overwrites the input).

The input is read with mmsp's safe loader, so only checkpoints within mmsp's allow-list (what
mmengine runners write) are accepted. ``--trust-input`` reads it with
``torch.load(weights_only=False)`` instead, which **executes whatever the pickle contains**: use
it only for a file whose origin you trust (e.g. a checkpoint you trained with other classes in
it), once, to produce a file that is safe to share. See docs/user_guides/reliability.md, section 6.
"""
import argparse
import hashlib
import io
import os.path as osp
from collections import OrderedDict
from typing import Any, List, Optional

import mmsp  # noqa: F401  isort:skip  (registers the safe checkpoint loader)
import numpy as np
import torch
from mmsp.utils import atomic_write, find_unsafe_globals, load_from_local_safe

#: meta keys that are copied (after conversion to plain Python values).
META_KEYS = ('epoch', 'iter', 'mmengine_version', 'experiment_name', 'seed', 'time',
             'dataset_meta')


def to_plain(value: Any, where: str = 'meta') -> Any:
    """``value`` with numpy scalars/arrays turned into Python numbers/lists, recursively.

    Raises:
        TypeError: a value that is not a plain container, number, string, bool or None.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        items = [to_plain(v, f'{where}[{i}]') for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = to_plain(key, f'{where} key')
            if not isinstance(key, (str, int)):
                raise TypeError(f'cannot publish {where} key {key!r}')
            out[key] = to_plain(item, f'{where}.{key}')
        return out
    raise TypeError(f'cannot publish {where} of type {type(value).__name__}')


def _check_output(in_file: str, out_file: str, force: bool) -> None:
    """Refuse to write ``out_file`` over the input, or over an existing file unless ``force``.

    Raises:
        ValueError: ``out_file`` is ``in_file`` (same path or same file).
        FileExistsError: ``out_file`` exists and ``force`` is False.
    """
    same = osp.abspath(out_file) == osp.abspath(in_file) or (
        osp.exists(out_file) and osp.exists(in_file) and osp.samefile(out_file, in_file))
    if same:
        raise ValueError(f'the output {out_file} is the input checkpoint; publish to another '
                         'file (the input is never overwritten)')
    if osp.exists(out_file) and not force:
        raise FileExistsError(f'the output {out_file} exists already; choose another name or '
                              'pass --force to replace it')


def publish(in_file: str,
            out_file: str,
            add_hash: bool = True,
            keep_cfg: bool = False,
            trust_input: bool = False,
            force: bool = False) -> str:
    """Write the stripped checkpoint; returns the final path.

    Raises:
        UnsafeCheckpointError: ``in_file`` needs globals outside mmsp's allow-list and
            ``trust_input`` is False.
        ValueError: no tensors, non-tensor entries in the state dict, or an output that is the
            input.
        FileExistsError: the output exists and ``force`` is False.
        TypeError: meta values that are not plain data.
    """
    out_file = osp.abspath(out_file)
    if not add_hash:
        _check_output(in_file, out_file, force)
    if trust_input:
        if not osp.isfile(in_file):
            raise FileNotFoundError(f'{in_file} can not be found.')
        checkpoint = torch.load(in_file, map_location='cpu', weights_only=False)
    else:
        checkpoint = load_from_local_safe(in_file, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{in_file}: expected a dict checkpoint, got {type(checkpoint).__name__}')
    state_dict = checkpoint.get('state_dict', checkpoint)
    tensors = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'{in_file}: state_dict entry {key!r} is a {type(value).__name__}, '
                             f'not a tensor')
        tensors[key] = value.detach().cpu().clone()
    if not tensors:
        raise ValueError(f'{in_file}: the state_dict is empty')
    meta_in = checkpoint.get('meta', {}) or {}
    keys = META_KEYS + (('cfg', ) if keep_cfg else ())
    meta = {key: to_plain(meta_in[key], f'meta.{key}') for key in keys if key in meta_in}
    buffer = io.BytesIO()
    torch.save({'meta': meta, 'state_dict': tensors}, buffer)
    data = buffer.getvalue()
    if add_hash:
        stem = out_file[:-4] if out_file.endswith('.pth') else out_file
        out_file = f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
        _check_output(in_file, out_file, force)
    with atomic_write(out_file) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)
        _verify(tmp)
    return out_file


def _verify(path: str) -> None:
    """Load ``path`` back with ``weights_only=True`` and torch's default allow-list only."""
    extra = find_unsafe_globals(path)
    if extra:
        raise RuntimeError(f'{path} still needs pickle globals {extra}')
    previous = list(torch.serialization.get_safe_globals())
    torch.serialization.clear_safe_globals()
    try:
        torch.load(path, map_location='cpu', weights_only=True)
    finally:
        if previous:
            torch.serialization.add_safe_globals(previous)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Strip a checkpoint for publishing')
    parser.add_argument('in_file', help='runner checkpoint (e.g. work_dirs/x/iter_80000.pth)')
    parser.add_argument('out_file', help='output file; "-<sha256[:8]>" is appended to the stem')
    parser.add_argument('--no-hash', action='store_true', help='do not append the hash')
    parser.add_argument('--keep-cfg', action='store_true', help='keep the config text in meta')
    parser.add_argument(
        '--trust-input',
        action='store_true',
        help='read IN with weights_only=False (runs arbitrary pickled code: trusted files only)')
    parser.add_argument(
        '--force', action='store_true', help='replace an existing OUT (never the input)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    path = publish(args.in_file, args.out_file, not args.no_hash, args.keep_cfg, args.trust_input,
                   args.force)
    print(path)
    return path


if __name__ == '__main__':
    main()
