"""Exact resume after a crash: SIGKILL after iteration 3 of 4, ``--resume``, compare with an
uninterrupted run (SPFormer-T on CIFAR, AdamW + warm-up/cosine schedule, shuffled sampler).

Complements tests/test_tools/test_resume.py (seg config, resume from a copied checkpoint): here
the process really dies mid-run (the iteration-3 update is lost and must be redone), and the
data order after the resume is checked batch by batch.
"""
import json
import signal

import pytest
import torch
from reliability_helpers import SPFORMER_CFG, probe_config, run_tool, spformer_options

from mmsp.utils import load_from_local_safe

pytestmark = pytest.mark.slow


def _batches(probe):
    lines = (probe / 'batches_rank0.jsonl').read_text().splitlines()
    return {b['iter']: b['ids'] for b in map(json.loads, lines)}


def _close(a, b, what):
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=lambda m: f'{what}: {m}')


def test_killed_run_resumes_to_the_uninterrupted_result(cls_data, tmp_path):
    opts = ['--cfg-options'] + spformer_options(cls_data, iters=4, ckpt_interval=2, val=False)
    cfg = probe_config(SPFORMER_CFG, tmp_path / 'plain')
    straight, p_straight = tmp_path / 'straight', tmp_path / 'probe_straight'
    proc = run_tool(['tools/train.py', str(cfg), '--work-dir', str(straight)] + opts, p_straight)
    assert proc.returncode == 0, proc.stderr[-3000:]

    killed_cfg = probe_config(SPFORMER_CFG, tmp_path / 'kill', kill_at=3)
    work, p_killed = tmp_path / 'crashed', tmp_path / 'probe_killed'
    proc = run_tool(['tools/train.py', str(killed_cfg), '--work-dir', str(work)] + opts, p_killed)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_2.pth']  # died after iter 3
    assert sorted(_batches(p_killed)) == [1, 2, 3]

    p_resumed = tmp_path / 'probe_resumed'
    proc = run_tool(['tools/train.py', str(cfg), '--work-dir', str(work), '--resume'] + opts,
                    p_resumed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = sorted(work.glob('*/*.log'))[-1].read_text()
    assert 'resumed epoch: 0, iter: 2' in log

    # data order: the resumed run trains iterations 3 and 4 on the uninterrupted run's batches
    order, resumed_order = _batches(p_straight), _batches(p_resumed)
    assert sorted(resumed_order) == [3, 4]
    assert resumed_order == {3: order[3], 4: order[4]}
    assert order[3] != order[1]  # shuffled: a restarted (not resumed) sampler would differ

    final = load_from_local_safe(str(work / 'iter_4.pth'), map_location='cpu')
    ref = load_from_local_safe(str(straight / 'iter_4.pth'), map_location='cpu')
    at_2 = load_from_local_safe(str(straight / 'iter_2.pth'), map_location='cpu')
    assert final['meta']['iter'] == ref['meta']['iter'] == 4
    assert final['state_dict'].keys() == ref['state_dict'].keys()
    moved = max((ref['state_dict'][k] - at_2['state_dict'][k]).abs().max().item()
                for k in ref['state_dict'] if ref['state_dict'][k].is_floating_point())
    assert moved > 1e-4  # iterations 3-4 changed the weights: equality below is not trivial
    for key, value in ref['state_dict'].items():
        _close(final['state_dict'][key], value, key)
    # AdamW moments and step counts, and the warm-up + cosine schedulers, resumed too
    assert final['optimizer']['param_groups'] == ref['optimizer']['param_groups']
    for idx, state in ref['optimizer']['state'].items():
        for name, value in state.items():
            _close(final['optimizer']['state'][idx][name], value, f'optimizer {idx}.{name}')
    assert final['param_schedulers'] == ref['param_schedulers']
