"""Fixtures of the tool tests (helpers live in tools_helpers.py)."""
from pathlib import Path

import pytest
from tools_helpers import SEG_SMOKE, data_options, load_tool

from mmsp.utils import make_tiny_camvid


@pytest.fixture(scope='session')
def tiny_camvid(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('tiny_camvid')
    make_tiny_camvid(str(root), {'train': 4, 'val': 2}, size=(48, 64), seed=0)
    return root


@pytest.fixture(scope='session')
def seg_run_4iters(tmp_path_factory, tiny_camvid) -> Path:
    """The seg smoke config trained 4 iterations without interruption (checkpoints at 2 and 4).

    Shared by the resume and checkpoint tests; on the generated set, so it always runs.
    """
    train = load_tool('train')
    work_dir = tmp_path_factory.mktemp('seg_run_4iters')
    train.main([
        str(SEG_SMOKE), '--work-dir', str(work_dir)
    ] + data_options(tiny_camvid, 'straight', [
        'train_cfg.max_iters=4', 'param_scheduler.0.end=4', 'train_cfg.val_interval=4'
    ]))
    assert (work_dir / 'iter_2.pth').is_file() and (work_dir / 'iter_4.pth').is_file()
    return work_dir
