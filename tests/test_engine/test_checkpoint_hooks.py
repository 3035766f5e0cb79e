"""AtomicCheckpointHook: a kill while a checkpoint is written loses nothing (the configs that
use it and CheckedLoadHook are covered through the tools, in tests/test_tools)."""
import itertools
import os
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from mmengine.fileio import LocalBackend
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from mmsp.engine.hooks import AtomicCheckpointHook
from mmsp.utils import NotACheckpointError, load_from_local_safe

_names = itertools.count()


class Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def _runner(work_dir, hook_type, max_iters, max_keep_ckpts=1):
    data = [dict(inputs=torch.full((2, ), float(i))) for i in range(8)]
    return Runner(
        model=Toy(),
        work_dir=str(work_dir),
        experiment_name=f'atomic_{os.getpid()}_{next(_names)}',
        train_dataloader=dict(
            dataset=data, sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            checkpoint=dict(type=hook_type, by_epoch=False, interval=1,
                            max_keep_ckpts=max_keep_ckpts),
            logger=dict(type='LoggerHook', interval=100)),
        default_scope='mmseg')


def _killed_while_writing(runner, at_iter):
    """Make the checkpoint write of iteration ``at_iter`` die half-way (as a SIGKILL would)."""
    save = runner.save_checkpoint

    def dying(out_dir, filename, *args, **kwargs):
        if runner.iter + 1 == at_iter:
            with open(os.path.join(out_dir, filename), 'wb') as f:
                f.write(b'PK\x03\x04 the first bytes of a zip archive')
            raise KeyboardInterrupt('killed while writing the checkpoint')
        return save(out_dir, filename, *args, **kwargs)

    runner.save_checkpoint = dying


def test_kill_during_write_keeps_the_previous_checkpoint(tmp_path):
    runner = _runner(tmp_path, 'mmseg.AtomicCheckpointHook', max_iters=3)
    _killed_while_writing(runner, 3)
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in ('.pth', '.tmp')) == [
        'iter_2.pth'
    ]
    last = (tmp_path / 'last_checkpoint').read_text()
    assert last == str(tmp_path / 'iter_2.pth')
    assert load_from_local_safe(last)['meta']['iter'] == 2  # complete and loadable


def test_mmengine_hook_loses_the_checkpoint_in_the_same_kill(tmp_path):
    """Positive control: the scenario above really destroys work with mmengine's own hook."""
    runner = _runner(tmp_path, 'CheckpointHook', max_iters=3)
    _killed_while_writing(runner, 3)
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert not (tmp_path / 'iter_2.pth').exists()
    with pytest.raises(NotACheckpointError):
        load_from_local_safe(str(tmp_path / 'iter_3.pth'))


def test_rotation_and_resume_bookkeeping(tmp_path):
    runner = _runner(tmp_path, 'mmseg.AtomicCheckpointHook', max_iters=4, max_keep_ckpts=2)
    runner.train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_3.pth', 'iter_4.pth']
    assert not list(tmp_path.glob('.*.tmp'))
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_4.pth')
    info = load_from_local_safe(str(tmp_path / 'iter_4.pth'))['message_hub']['runtime_info']
    assert info['keep_ckpt_ids'] == [3, 4] and info['last_ckpt'] == str(tmp_path / 'iter_4.pth')
    assert oct(os.stat(tmp_path / 'iter_4.pth').st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_replaced_best_checkpoint_is_deleted_after_its_successor(tmp_path):
    old = tmp_path / 'best_acc_iter_1.pth'
    old.write_bytes(b'old best')
    hook = AtomicCheckpointHook(by_epoch=False, save_best='acc', rule='greater')
    hook.out_dir, hook.file_backend, hook.last_ckpt = str(tmp_path), LocalBackend(), None
    hook.best_ckpt_path = str(old)
    hub = MessageHub.get_instance(f'best_{os.getpid()}_{next(_names)}')
    hub.update_info('best_score', 0.5)
    seen = []

    def save_checkpoint(out_dir, filename, **kwargs):
        seen.append(old.exists())  # the old best is still there while the new one is written
        (Path(out_dir) / filename).write_bytes(b'new best')

    runner = SimpleNamespace(message_hub=hub, iter=4, epoch=0, logger=mock.Mock(),
                             save_checkpoint=save_checkpoint)
    hook._save_best_checkpoint(runner, {'acc': 0.9})
    assert seen == [True] and not old.exists()
    assert (tmp_path / 'best_acc_iter_4.pth').read_bytes() == b'new best'
    assert hook.best_ckpt_path == str(tmp_path / 'best_acc_iter_4.pth')
    hook._save_best_checkpoint(runner, {'acc': 0.1})  # not better: nothing changes
    assert hook.best_ckpt_path == str(tmp_path / 'best_acc_iter_4.pth')
    assert (tmp_path / 'best_acc_iter_4.pth').exists()
