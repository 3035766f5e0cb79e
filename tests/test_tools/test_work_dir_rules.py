"""No lost work through the tools: atomic checkpoints in every training config, --resume that
finds nothing, a second run into the same work dir, publish_model over its input."""
import hashlib
import shutil
from pathlib import Path

import pytest
from mmengine.config import Config
from tools_helpers import REPO_ROOT, SEG_SMOKE, data_options, load_tool, run_tool

from mmsp.utils import check_work_dir, load_from_local_safe


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize('config', [
    SEG_SMOKE, REPO_ROOT / 'configs' / 'sp_head' / 'sp-head_r50_1xb4-1k_camvid-240x320.py'
])
def test_train_tool_saves_atomically_and_loads_strictly(config, tmp_path):
    """(tests/test_configs.py checks that every training config names the atomic hook.)"""
    train = load_tool('train')
    cfg = train.build_config(train.parse_args([str(config), '--work-dir', str(tmp_path)]))
    hook = cfg.default_hooks.checkpoint
    original = Config.fromfile(str(config)).default_hooks.checkpoint
    assert hook.type == 'mmseg.AtomicCheckpointHook'
    # the other arguments are kept (e.g. max_keep_ckpts=1 of the CamVid CPU schedule)
    assert {k: v for k, v in hook.items() if k != 'type'} == \
        {k: v for k, v in original.items() if k != 'type'}
    loads = [h for h in cfg.custom_hooks if h.type == 'mmseg.CheckedLoadHook']
    assert len(loads) == 1 and loads[0].strict is True


ATOMIC = 'mmseg.AtomicCheckpointHook'


@pytest.mark.parametrize('hook,expected', [('CheckpointHook', ATOMIC),
                                           ('mmengine.CheckpointHook', ATOMIC), (ATOMIC, ATOMIC),
                                           ('MyCheckpointHook', 'MyCheckpointHook')])
def test_train_tool_swaps_a_stock_checkpoint_hook_back(hook, expected, tmp_path):
    """mmengine's hook set by --cfg-options is replaced (same arguments); a user's own is kept."""
    train = load_tool('train')
    cfg = train.build_config(train.parse_args([
        str(SEG_SMOKE), '--work-dir', str(tmp_path), '--cfg-options',
        f'default_hooks.checkpoint.type={hook}', 'default_hooks.checkpoint.max_keep_ckpts=3'
    ]))
    assert cfg.default_hooks.checkpoint.type == expected
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 3


@pytest.fixture
def work_dir_with_checkpoints(seg_run_4iters, tmp_path):
    work_dir = tmp_path / 'run'
    work_dir.mkdir()
    for name in ('iter_2.pth', 'iter_4.pth'):
        shutil.copy(seg_run_4iters / name, work_dir / name)
    return work_dir


def _train(work_dir, tiny_camvid, *extra):
    return load_tool('train').main([str(SEG_SMOKE), '--work-dir', str(work_dir), *extra] +
                                   data_options(tiny_camvid, 'rules'))


def test_resume_without_last_checkpoint_stops(work_dir_with_checkpoints, tiny_camvid):
    before = _digest(work_dir_with_checkpoints / 'iter_4.pth')
    with pytest.raises(FileNotFoundError) as info:
        _train(work_dir_with_checkpoints, tiny_camvid, '--resume')
    message = str(info.value)
    assert 'found nothing to resume' in message and 'no last_checkpoint file' in message
    assert 'iter_2.pth, iter_4.pth' in message
    assert f'--resume {work_dir_with_checkpoints / "iter_4.pth"}' in message
    assert _digest(work_dir_with_checkpoints / 'iter_4.pth') == before


def test_resume_with_dangling_last_checkpoint_stops(work_dir_with_checkpoints, tiny_camvid):
    gone = work_dir_with_checkpoints / 'iter_6.pth'
    (work_dir_with_checkpoints / 'last_checkpoint').write_text(str(gone))
    with pytest.raises(FileNotFoundError, match=f'names {gone}, which does not exist'):
        _train(work_dir_with_checkpoints, tiny_camvid, '--resume')


def test_resume_finds_the_last_checkpoint(work_dir_with_checkpoints):
    (work_dir_with_checkpoints / 'last_checkpoint').write_text(
        str(work_dir_with_checkpoints / 'iter_4.pth'))
    cfg = Config(dict(work_dir=str(work_dir_with_checkpoints), resume=True, load_from=None))
    assert check_work_dir(cfg) is None
    assert cfg.load_from == str(work_dir_with_checkpoints / 'iter_4.pth')
    empty = Config(dict(work_dir=str(work_dir_with_checkpoints / 'new'), resume=True,
                        load_from=None))
    assert 'training starts from scratch' in check_work_dir(empty) and not empty.resume


def test_second_run_into_the_same_work_dir_is_refused(work_dir_with_checkpoints, tiny_camvid):
    before = _digest(work_dir_with_checkpoints / 'iter_2.pth')
    with pytest.raises(FileExistsError) as info:
        _train(work_dir_with_checkpoints, tiny_camvid)
    assert (f'work dir {work_dir_with_checkpoints} already holds checkpoints of an earlier run '
            '(iter_2.pth, iter_4.pth)') in str(info.value)
    assert '--resume' in str(info.value)
    assert _digest(work_dir_with_checkpoints / 'iter_2.pth') == before
    assert not list(work_dir_with_checkpoints.iterdir())[2:]  # nothing was written


def test_publish_refuses_its_input_and_existing_outputs(seg_run_4iters, tmp_path):
    src = tmp_path / 'iter_4.pth'
    shutil.copy(seg_run_4iters / 'iter_4.pth', src)
    before = _digest(src)
    proc = run_tool(['tools/misc/publish_model.py', str(src), str(src), '--no-hash', '--force'],
                    timeout=120)
    assert proc.returncode != 0 and f'the output {src} is the input checkpoint' in proc.stderr
    assert _digest(src) == before
    publish = load_tool('misc/publish_model')
    out = tmp_path / 'published.pth'
    out.write_bytes(b'an earlier file')
    with pytest.raises(FileExistsError, match=f'{out} exists already.*--force'):
        publish.main([str(src), str(out), '--no-hash'])
    assert out.read_bytes() == b'an earlier file'
    assert publish.main([str(src), str(out), '--no-hash', '--force']) == str(out)
    assert load_from_local_safe(str(out))['meta']['iter'] == 4
    # with the hash appended: the final name is checked too
    hashed = publish.main([str(src), str(tmp_path / 'model.pth')])
    with pytest.raises(FileExistsError, match=Path(hashed).name):
        publish.main([str(src), str(tmp_path / 'model.pth')])
    assert _digest(src) == before


def test_publish_writes_atomically(seg_run_4iters, tmp_path, monkeypatch):
    publish = load_tool('misc/publish_model')

    def broken(path):
        raise RuntimeError('verification failed')

    monkeypatch.setattr(publish, '_verify', broken)
    with pytest.raises(RuntimeError, match='verification failed'):
        publish.main([str(seg_run_4iters / 'iter_2.pth'), str(tmp_path / 'm.pth'), '--no-hash'])
    assert list(tmp_path.iterdir()) == []  # neither a partial output nor a temporary file
