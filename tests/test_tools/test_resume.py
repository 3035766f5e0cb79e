"""Resume round trip: 2 iterations + ``--resume`` to 4 equals 4 uninterrupted iterations."""
import shutil

import pytest
import torch

from mmsp.utils import load_from_local_safe

from tools_helpers import SEG_SMOKE, data_options, load_tool


@pytest.mark.slow
def test_resume_reaches_the_uninterrupted_weights(seg_run_4iters, tiny_camvid, tmp_path):
    # the interrupted run: its work dir holds only the iteration-2 checkpoint of the same run
    work_dir = tmp_path / 'resumed'
    work_dir.mkdir()
    shutil.copy(seg_run_4iters / 'iter_2.pth', work_dir / 'iter_2.pth')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_2.pth'))

    runner = load_tool('train').main([
        str(SEG_SMOKE), '--work-dir', str(work_dir), '--resume'
    ] + data_options(tiny_camvid, 'resumed', [
        'train_cfg.max_iters=4', 'param_scheduler.0.end=4', 'train_cfg.val_interval=4'
    ]))
    assert runner.iter == 4
    # it really resumed: only iterations 3 and 4 were trained (a fresh 4-iteration run would
    # reach the same weights, since the run is deterministic)
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Iter(train) [3/4]' in log and 'Iter(train) [1/4]' not in log
    resumed = load_from_local_safe(str(work_dir / 'iter_4.pth'), map_location='cpu')
    straight = load_from_local_safe(str(seg_run_4iters / 'iter_4.pth'), map_location='cpu')
    at_2 = load_from_local_safe(str(seg_run_4iters / 'iter_2.pth'), map_location='cpu')
    assert resumed['meta']['iter'] == straight['meta']['iter'] == 4

    keys = straight['state_dict'].keys()
    assert resumed['state_dict'].keys() == keys
    float_keys = [k for k in keys if straight['state_dict'][k].is_floating_point()]
    # iterations 3-4 changed the weights, so equality below is not the trivial "nothing moved"
    moved = max((straight['state_dict'][k] - at_2['state_dict'][k]).abs().max().item()
                for k in float_keys)
    assert moved > 1e-4
    for key in keys:
        torch.testing.assert_close(
            resumed['state_dict'][key], straight['state_dict'][key], rtol=1e-5, atol=1e-6,
            msg=lambda m: f'{key}: {m}')
    # the optimizer state (SGD momentum) and the LR schedule were resumed too
    for key, state in straight['optimizer']['state'].items():
        torch.testing.assert_close(resumed['optimizer']['state'][key]['momentum_buffer'],
                                   state['momentum_buffer'], rtol=1e-5, atol=1e-6)
    assert resumed['param_schedulers'] == straight['param_schedulers']
