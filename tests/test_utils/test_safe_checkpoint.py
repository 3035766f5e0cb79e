"""mmsp's safe local checkpoint loader: exact allow-list, refusals, registration in mmengine."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from mmsp.utils import (NotACheckpointError, UnsafeCheckpointError, allow_checkpoint_globals,
                        checkpoint_safe_globals, find_unsafe_globals, load_from_local_safe)
from mmsp.utils.checkpoint import history_buffer_statistic


class _System:
    """Pickles as ``os.system(command)``: what a malicious checkpoint would carry."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command, ))


class _Reduce:
    """Pickles as an arbitrary ``func(*args)`` call."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _history_buffer_with(statistics_methods):
    """A HistoryBuffer that pickles with the given ``statistics_methods`` in its state."""
    buf = HistoryBuffer()
    buf.update(1.0)
    state = dict(buf.__dict__, statistics_methods=statistics_methods)
    buf.__getstate__ = lambda: state  # instance attribute: used by pickle instead of the class's
    return buf


def _runner_like(tmp_path):
    """A dict shaped like an mmengine runner checkpoint (message hub, numpy metrics)."""
    buf = HistoryBuffer()
    for value in (1.0, 2.0, 4.0):
        buf.update(value)
    checkpoint = dict(
        meta=dict(iter=2, mmengine_version='0.10.7', dataset_meta=dict(classes=('a', 'b'))),
        state_dict={'conv.weight': torch.randn(2, 3, 1, 1)},
        message_hub=dict(
            log_scalars={'train/loss': buf},
            runtime_info={'mIoU': np.float32(12.5), 'hist': np.arange(3, dtype=np.int64),
                          'flag': np.bool_(True)},
            resumed_keys={'train/loss': True}))
    path = tmp_path / 'runner.pth'
    torch.save(checkpoint, path)
    return path, checkpoint


def test_allow_list_is_exact():
    names = set()
    for entry in checkpoint_safe_globals():
        names.add(entry[1] if isinstance(entry, tuple) else
                  f'{entry.__module__}.{entry.__qualname__}')
    dtype_names = {f'numpy.dtypes.{type(np.dtype(c)).__name__}' for c in '?bhilqBHILQefdgFDG'}
    expected = {
        'mmengine.logging.history_buffer.HistoryBuffer', 'numpy.ndarray', 'numpy.dtype',
        'builtins.getattr', 'numpy._core.multiarray._reconstruct', 'numpy._core.multiarray.scalar',
        'numpy.core.multiarray._reconstruct', 'numpy.core.multiarray.scalar'
    } | dtype_names
    assert names == expected
    objects = [e[0] if isinstance(e, tuple) else e for e in checkpoint_safe_globals()]
    assert getattr not in objects and eval not in objects and os.system not in objects
    assert type(np.dtype(object)) not in objects and type(np.dtype('U1')) not in objects


def test_runner_like_checkpoint_needs_and_gets_the_allow_list(tmp_path):
    path, original = _runner_like(tmp_path)
    with pytest.raises(pickle.UnpicklingError):  # what mmengine 0.10.7 hits on torch >= 2.6
        torch.load(path, weights_only=True)
    loaded = load_from_local_safe(str(path), map_location='cpu')
    torch.testing.assert_close(loaded['state_dict']['conv.weight'],
                               original['state_dict']['conv.weight'])
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    np.testing.assert_array_equal(buf.data[0], [1.0, 2.0, 4.0])
    assert buf.mean() == pytest.approx(7 / 3) and buf.current() == 4.0
    info = loaded['message_hub']['runtime_info']
    assert info['mIoU'] == np.float32(12.5) and info['hist'].tolist() == [0, 1, 2]
    assert loaded['meta']['dataset_meta'] == {'classes': ('a', 'b')}


def test_malicious_callable_is_refused_and_not_run(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'x': _System(f'touch {marker}')}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_from_local_safe(str(path))
    message = str(info.value)
    assert str(path) in message and 'posix.system' in message
    assert not marker.exists()
    # through mmengine's public entry point (load_from / resume / Pretrained use it)
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()
    # positive control: the file really runs its payload when loaded without weights_only
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize('owner, name', [(HistoryBuffer, '__init__'), (HistoryBuffer, 'update'),
                                         (np.ndarray, 'tofile'), (HistoryBuffer, '__class__')])
def test_getattr_only_resolves_history_buffer_statistics(tmp_path, owner, name):
    path = tmp_path / 'getattr.pth'
    torch.save({'f': _Reduce(getattr, (owner, name))}, path)
    with pytest.raises(UnsafeCheckpointError, match=r'builtins\.getattr\('):
        load_from_local_safe(str(path))
    for method in ('min', 'max', 'mean', 'current'):
        assert history_buffer_statistic(HistoryBuffer, method) is getattr(HistoryBuffer, method)
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_statistic(np.ndarray, 'mean')


def test_history_buffer_statistics_table_cannot_be_replaced(tmp_path):
    HistoryBuffer()  # the class-level table holds its defaults
    before = dict(HistoryBuffer._statistics_methods)
    path = tmp_path / 'tamper.pth'
    torch.save({'buf': _history_buffer_with({'mean': np.ndarray, 'extra': np.dtype})}, path)
    with pytest.raises(UnsafeCheckpointError, match='replaces HistoryBuffer statistics'):
        load_from_local_safe(str(path))
    assert HistoryBuffer._statistics_methods == before
    # the defaults written by mmengine itself are accepted
    torch.save({'buf': _history_buffer_with({'mean': HistoryBuffer.mean})}, path)
    assert isinstance(load_from_local_safe(str(path))['buf'], HistoryBuffer)


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / 'object.pth'
    torch.save({'a': np.array([1, 'x'], dtype=object)}, path)
    with pytest.raises(UnsafeCheckpointError, match=str(path)):
        load_from_local_safe(str(path))


def _rename_in_pickle(src, dst, old: bytes, new: bytes):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith('data.pkl'):
                assert old in data
                data = data.replace(old, new)
            zout.writestr(item, data)


def test_numpy1_spelling_is_accepted(tmp_path):
    path = tmp_path / 'np2.pth'
    torch.save({'a': np.arange(4.0), 's': np.float64(3.0)}, path)
    old = tmp_path / 'np1.pth'
    _rename_in_pickle(path, old, b'numpy._core.multiarray', b'numpy.core.multiarray')
    found = torch.serialization.get_unsafe_globals_in_checkpoint(str(old))
    assert 'numpy.core.multiarray._reconstruct' in found
    loaded = load_from_local_safe(str(old))
    assert loaded['a'].tolist() == [0.0, 1.0, 2.0, 3.0] and loaded['s'] == 3.0


def test_allow_list_is_restored(tmp_path):
    path, _ = _runner_like(tmp_path)
    evil = tmp_path / 'evil.pth'
    torch.save({'x': _System('true')}, evil)
    original = list(torch.serialization.get_safe_globals())
    torch.serialization.add_safe_globals([io.BytesIO])  # a user's own addition survives
    try:
        before = set(torch.serialization.get_safe_globals())
        load_from_local_safe(str(path))
        assert set(torch.serialization.get_safe_globals()) == before
        with pytest.raises(UnsafeCheckpointError):
            load_from_local_safe(str(evil))
        assert set(torch.serialization.get_safe_globals()) == before
        with allow_checkpoint_globals():
            assert HistoryBuffer in torch.serialization.get_safe_globals()
        assert HistoryBuffer not in torch.serialization.get_safe_globals()
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(original)


def test_find_unsafe_globals(tmp_path):
    path, _ = _runner_like(tmp_path)
    assert find_unsafe_globals(str(path)) == []
    evil = tmp_path / 'evil.pth'
    torch.save({'x': _System('true'), 'y': _Reduce(io.BytesIO, ())}, evil)
    assert find_unsafe_globals(str(evil)) == ['_io.BytesIO', 'posix.system']


def test_missing_file_and_registration(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_from_local_safe(str(tmp_path / 'missing.pth'))
    assert CheckpointLoader._get_checkpoint_loader(str(tmp_path / 'x.pth')) is load_from_local_safe
    # other schemes keep mmengine's own loaders
    assert CheckpointLoader._get_checkpoint_loader('https://x/y.pth') is not load_from_local_safe


def test_history_buffer_statistics_table_cannot_be_extended(tmp_path):
    """A file that only *adds* an entry (an allowed function under a new name) is refused too,
    and the entry does not stay in the class-level table."""
    HistoryBuffer()
    before = dict(HistoryBuffer._statistics_methods)
    path = tmp_path / 'extend.pth'
    torch.save({'buf': _history_buffer_with({'median': HistoryBuffer.mean})}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"adds or replaces .*\['median'\]"):
        load_from_local_safe(str(path))
    assert HistoryBuffer._statistics_methods == before and 'median' not in before


def test_history_buffer_addition_refused_in_a_fresh_process(tmp_path):
    """Same, where nothing has filled the table yet (its defaults may be filled in, no more)."""
    import subprocess
    import sys
    path = tmp_path / 'extend.pth'
    torch.save({'buf': _history_buffer_with({'median': HistoryBuffer.mean})}, path)
    code = (
        'import mmsp, sys\n'
        'from mmengine.logging import HistoryBuffer\n'
        'from mmsp.utils import UnsafeCheckpointError, load_from_local_safe\n'
        'assert HistoryBuffer._statistics_methods == {}\n'
        'try:\n'
        f'    load_from_local_safe({str(path)!r})\n'
        'except UnsafeCheckpointError as err:\n'
        '    print("refused:", err)\n'
        'print(sorted(HistoryBuffer._statistics_methods))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert out.returncode == 0, out.stderr
    assert "refused:" in out.stdout and "['median']" in out.stdout
    assert "'median'" not in out.stdout.splitlines()[-1]


def _damaged(tmp_path, kind):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.randn(64, 64)}}, good)
    data = good.read_bytes()
    path = tmp_path / f'{kind}.pth'
    if kind == 'zero-byte':
        path.write_bytes(b'')
    elif kind == 'truncated':
        path.write_bytes(data[:len(data) // 2])
    elif kind == 'random':
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    elif kind == 'text':
        path.write_text('version https://git-lfs.github.com/spec/v1\noid sha256:abc\n')
    elif kind == 'truncated-legacy':
        legacy = tmp_path / 'legacy.pth'
        torch.save({'w': torch.ones(64)}, legacy, _use_new_zipfile_serialization=False)
        path.write_bytes(legacy.read_bytes()[:100])
    return path


@pytest.mark.parametrize('kind, words', [('zero-byte', 'empty'), ('truncated', 'truncated'),
                                         ('random', 'neither'), ('text', 'neither'),
                                         ('truncated-legacy', 'truncated')])
def test_not_a_checkpoint_is_named_as_such(tmp_path, kind, words):
    path = _damaged(tmp_path, kind)
    with pytest.raises(NotACheckpointError, match=words) as info:
        load_from_local_safe(str(path))
    assert str(path) in str(info.value) and 'allow-list' not in str(info.value)
    # the same message through mmengine's entry point (load_from / resume / Pretrained)
    with pytest.raises(NotACheckpointError, match=str(path)):
        _load_checkpoint(str(path), map_location='cpu')


def test_corrupt_pickle_inside_a_valid_archive_is_not_called_unsafe(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'w': torch.ones(2)}, good)
    bad = tmp_path / 'bad.pth'
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, 'w', zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith('data.pkl'):
                data = b'\x80\x02\xff\xfe garbage'
            zout.writestr(item, data)
    with pytest.raises(NotACheckpointError, match='damaged') as info:
        load_from_local_safe(str(bad))
    assert str(bad) in str(info.value)
