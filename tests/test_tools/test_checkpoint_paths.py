"""Every way a runner checkpoint is consumed works on torch 2.13 without weights_only=False:
``load_from``, ``tools/test.py CONFIG CKPT`` (runner and published files),
``init_cfg=dict(type='Pretrained', prefix='backbone.')``; a malicious file is refused by each.
"""
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from tools_helpers import SEG_SMOKE, data_options, load_tool

from mmsp.utils import UnsafeCheckpointError, build_model_from_config, load_from_local_safe


class _System:

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command, ))


@pytest.fixture
def evil_checkpoint(seg_run_4iters, tmp_path):
    """The iteration-2 weights plus an ``os.system`` payload that would create ``marker``."""
    marker = tmp_path / 'pwned'
    good = load_from_local_safe(str(seg_run_4iters / 'iter_2.pth'))
    path = tmp_path / 'evil.pth'
    torch.save(dict(good, payload=_System(f'touch {marker}')), path)
    return path, marker


def _seg_cfg(tiny_camvid, work_dir, **overrides) -> Config:
    args = load_tool('train').parse_args(
        [str(SEG_SMOKE), '--work-dir', str(work_dir)] + data_options(tiny_camvid, 'paths'))
    cfg = load_tool('train').build_config(args)
    cfg.merge_from_dict(overrides)
    return cfg


@pytest.mark.slow
def test_load_from_runner_checkpoint(seg_run_4iters, tiny_camvid, tmp_path):
    ckpt = seg_run_4iters / 'iter_2.pth'
    runner = Runner.from_cfg(_seg_cfg(tiny_camvid, tmp_path, load_from=str(ckpt)))
    runner.load_or_resume()
    expected = load_from_local_safe(str(ckpt))['state_dict']
    state = runner.model.state_dict()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)


@pytest.mark.slow
def test_load_from_refuses_malicious_checkpoint(evil_checkpoint, tiny_camvid, tmp_path):
    path, marker = evil_checkpoint
    runner = Runner.from_cfg(_seg_cfg(tiny_camvid, tmp_path, load_from=str(path)))
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        runner.load_or_resume()
    assert not marker.exists()


def test_pretrained_prefix_from_runner_checkpoint(seg_run_4iters):
    ckpt = seg_run_4iters / 'iter_2.pth'
    cfg = Config.fromfile(str(SEG_SMOKE))
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.')
    model = build_model_from_config(cfg)
    model.init_weights()
    expected = {
        k[len('backbone.'):]: v
        for k, v in load_from_local_safe(str(ckpt))['state_dict'].items()
        if k.startswith('backbone.')
    }
    state = model.backbone.state_dict()
    assert expected and state.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    # the head was not loaded from the checkpoint (prefix selects the backbone only)
    head = load_from_local_safe(str(ckpt))['state_dict']['decode_head.conv_seg.weight']
    assert not torch.equal(model.decode_head.conv_seg.weight, head)


def test_pretrained_refuses_malicious_checkpoint(evil_checkpoint):
    path, marker = evil_checkpoint
    cfg = Config.fromfile(str(SEG_SMOKE))
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(path), prefix='backbone.')
    model = build_model_from_config(cfg)
    with pytest.raises(UnsafeCheckpointError, match=str(path)):
        model.init_weights()
    assert not marker.exists()


@pytest.mark.slow
def test_test_tool_runner_vs_published_checkpoint(seg_run_4iters, tiny_camvid, tmp_path):
    ckpt = seg_run_4iters / 'iter_4.pth'
    published = load_tool('misc/publish_model').main(
        [str(ckpt), str(tmp_path / 'pub' / 'smoke.pth')])
    test = load_tool('test')
    runner_metrics = test.main([str(SEG_SMOKE), str(ckpt), '--work-dir', str(tmp_path)] +
                               data_options(tiny_camvid, 'runner_ckpt'))
    published_metrics = test.main([str(SEG_SMOKE), published, '--work-dir', str(tmp_path)] +
                                  data_options(tiny_camvid, 'published_ckpt'))
    assert set(runner_metrics) >= {'mIoU', 'aAcc'}
    assert runner_metrics == published_metrics  # same weights, same predictions


@pytest.mark.slow
def test_test_tool_refuses_malicious_checkpoint(evil_checkpoint, tiny_camvid, tmp_path):
    path, marker = evil_checkpoint
    with pytest.raises(UnsafeCheckpointError) as info:
        load_tool('test').main([str(SEG_SMOKE), str(path), '--work-dir', str(tmp_path)] +
                               data_options(tiny_camvid, 'evil'))
    assert str(path) in str(info.value) and 'posix.system' in str(info.value)
    assert not marker.exists()


@pytest.mark.slow
def test_resume_refuses_malicious_checkpoint(evil_checkpoint, tiny_camvid, tmp_path):
    path, marker = evil_checkpoint
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        load_tool('train').main([str(SEG_SMOKE), '--work-dir', str(tmp_path), '--resume',
                                 str(path)] + data_options(tiny_camvid, 'evil_resume'))
    assert not marker.exists()
