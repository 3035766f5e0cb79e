"""2-process CPU (gloo) runs through tools/dist_train.sh and tools/dist_test.sh.

Each run adds :class:`reliability_probe.ReliabilityProbeHook`, which records per rank the world
size, sampler, norm layers and DDP wrapper, the images of every training batch, and which rank
wrote which checkpoint.
"""
import json

import pytest
from reliability_helpers import (SP_HEAD_CFG, SPFORMER_CFG, free_port, last_metrics,
                                 probe_config, run_tool, sp_head_options, spformer_options)

pytestmark = pytest.mark.slow


def _check(proc):
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def _setup(probe, rank):
    return json.loads((probe / f'setup_rank{rank}.json').read_text())


def _batches(probe, rank):
    return [json.loads(x) for x in (probe / f'batches_rank{rank}.jsonl').read_text().splitlines()]


def _check_two_ranks(probe, sampler, iters):
    for rank in (0, 1):
        info = _setup(probe, rank)
        assert info['world_size'] == 2 and info['backend'] == 'gloo', info
        assert info['wrapper'] == 'MMDistributedDataParallel' and info['device_ids'] is None
        assert info['sampler'] == sampler
    # the sampler splits the data: the ranks never train on the same image in one iteration
    b0, b1 = _batches(probe, 0), _batches(probe, 1)
    assert [b['iter'] for b in b0] == [b['iter'] for b in b1] == list(range(1, iters + 1))
    for x, y in zip(b0, b1):
        assert x['ids'] and not set(x['ids']) & set(y['ids']), (x, y)
    # (c) checkpoints are written once, by rank 0
    saved = sorted(p.name for p in probe.glob('saved_rank*'))
    assert saved == [f'saved_rank0_iter{iters}'], saved


def test_sp_head_dist_train_and_test_on_cpu(seg_data, tmp_path):
    probe, work = tmp_path / 'probe', tmp_path / 'work'
    cfg = probe_config(SP_HEAD_CFG, tmp_path)
    # 5 validation images: the 2-rank sampler pads to 6 and the gathering must drop the pad
    opts = sp_head_options(seg_data, iters=2, n_val=5)
    _check(run_tool(['tools/dist_train.sh', str(cfg), '2', '--work-dir', str(work),
                     '--cfg-options'] + opts, probe_dir=probe, env={'PORT': free_port()}))
    _check_two_ranks(probe, 'InfiniteSampler', iters=2)
    for rank in (0, 1):
        norms = _setup(probe, rank)['norm_layers']
        assert 'BatchNorm2d' in norms and not any('Sync' in n for n in norms), norms
    log = next(work.glob('*/*.log')).read_text()
    assert 'SyncBN norm config(s) replaced by BN' in log
    ckpts = sorted(p.name for p in work.glob('*.pth'))
    assert ckpts == ['iter_2.pth']

    # (b) a 2-process test gathers both ranks: same numbers as a 1-process test
    ckpt = str(work / 'iter_2.pth')
    dist_dir, single_dir = tmp_path / 'dist_test', tmp_path / 'single_test'
    _check(run_tool(['tools/dist_test.sh', str(SP_HEAD_CFG), ckpt, '2', '--work-dir',
                     str(dist_dir), '--cfg-options'] + opts, env={'PORT': free_port()}))
    _check(run_tool(['tools/test.py', str(SP_HEAD_CFG), ckpt, '--work-dir', str(single_dir),
                     '--cfg-options'] + opts))
    dist, single = last_metrics(dist_dir), last_metrics(single_dir)
    assert {'mIoU', 'aAcc', 'sp/ASA', 'sp/BR', 'sp/num_superpixels'} <= set(single)
    assert dist == single
    # the metrics saw 5 images, not 6 (padding removed) and not 3 (one rank only)
    dist_log = next(dist_dir.glob('*/*.log')).read_text()
    assert 'SuperpixelMetric on 5 images' in dist_log


def test_spformer_dist_train_on_cpu(cls_data, tmp_path):
    probe, work = tmp_path / 'probe', tmp_path / 'work'
    cfg = probe_config(SPFORMER_CFG, tmp_path)
    opts = spformer_options(cls_data, iters=2, n_val=9)
    _check(run_tool(['tools/dist_train.sh', str(cfg), '2', '--work-dir', str(work),
                     '--cfg-options'] + opts, probe_dir=probe, env={'PORT': free_port()}))
    _check_two_ranks(probe, 'DefaultSampler', iters=2)
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_2.pth']
    # (b) the validation at the end of training ran on 2 ranks (5 + 4 images, one pad dropped);
    # SPFormer has no BatchNorm, so both ranks hold the checkpoint's weights exactly and a
    # 1-process test of the checkpoint must give the same accuracy
    in_training = last_metrics(work)
    single_dir = tmp_path / 'single_test'
    _check(run_tool(['tools/test.py', str(SPFORMER_CFG), str(work / 'iter_2.pth'), '--work-dir',
                     str(single_dir), '--cfg-options'] + opts))
    single = last_metrics(single_dir)
    assert 'accuracy/top1' in single
    assert in_training['accuracy/top1'] == single['accuracy/top1']
