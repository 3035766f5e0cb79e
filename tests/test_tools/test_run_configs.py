"""tools/experiments/run_configs.py: run naming, list files, log parsing, collection, the
second pass, and the driver end to end with a stand-in for tools/train.py (fast: no training)."""
import json
import os
import textwrap
from pathlib import Path

import pytest
from tools_helpers import REPO_ROOT, SEG_SMOKE, load_tool

rc = load_tool('experiments/run_configs')
STUDY = REPO_ROOT / 'configs' / 'sp_head' / 'camvid_study'


def _train_rec(it, loss=1.0, time=0.5, data_time=0.1, memory=None):
    rec = dict(lr=1e-3, loss=loss, time=time, data_time=data_time, iter=it, step=it)
    if memory is not None:
        rec['memory'] = memory
    return rec


def _val_rec(step, miou):
    return {'aAcc': 80.0, 'mIoU': miou, 'mAcc': 50.0, 'sp/ASA': 0.9, 'sp/BR': 0.7,
            'sp/num_superpixels': 180.0, 'data_time': 0.01, 'time': 0.2, 'step': step}


def _write_log(work_dir: Path, stamp: str, records, name='scalars.json', tail=''):
    vis = work_dir / stamp / 'vis_data'
    vis.mkdir(parents=True, exist_ok=True)
    text = '\n'.join(json.dumps(r) for r in records) + '\n' + tail
    (vis / name).write_text(text)
    return vis / name


def test_option_names_and_seeds():
    assert rc.option_slug('randomness.seed=1') == 'seed1'
    assert rc.option_slug('optim_wrapper.optimizer.lr=3e-4') == 'lr3e-4'
    run = rc.make_run(str(SEG_SMOKE), ['randomness.seed=1'])
    assert run.name == SEG_SMOKE.stem + '_seed1' and run.options == ('randomness.seed=1', )
    assert rc.config_path(str(SEG_SMOKE)) == str(SEG_SMOKE.relative_to(REPO_ROOT))
    runs = rc.with_seeds([rc.make_run('a.py')], [0, 1])
    assert [r.name for r in runs] == ['a_seed0', 'a_seed1']
    with pytest.raises(ValueError, match='not key=value'):
        rc.make_run('a.py', ['seed'])


def test_configs_of_a_folder_and_missing_config():
    configs = rc.expand_configs([str(STUDY)])
    assert len(configs) >= 16 and all(c.endswith('.py') and '_base_' not in c for c in configs)
    assert all(not Path(c).is_absolute() for c in configs)  # relative to the repository root
    with pytest.raises(FileNotFoundError, match='config not found'):
        rc.expand_configs(['configs/nope.py'])


def test_list_file(tmp_path):
    lst = tmp_path / 'runs.txt'
    lst.write_text(f'# second pass\n{SEG_SMOKE} randomness.seed=1  # comment\n\n{SEG_SMOKE}\n')
    runs = rc.read_list(lst)
    assert [r.options for r in runs] == [('randomness.seed=1', ), ()]
    lst.write_text('configs/nope.py\n')
    with pytest.raises(ValueError, match='runs.txt:1: config not found'):
        rc.read_list(lst)


def test_parse_scalars_takes_the_last_validation(tmp_path):
    path = _write_log(tmp_path, 't1', [
        _train_rec(50, time=9.0, memory=100), _train_rec(100, time=1.0, memory=300),
        _val_rec(100, 10.0), _train_rec(150, time=2.0, data_time=0.3), _val_rec(150, 20.0)
    ], tail='{"loss": 1.0, "ti')  # a line cut off by a killed run
    out = rc.parse_scalars(path)
    assert out['metrics']['mIoU'] == 20.0 and out['metrics']['sp/ASA'] == 0.9
    assert 'time' not in out['metrics'] and 'step' not in out['metrics']
    assert out['val_iter'] == 150 and out['iters'] == 150
    assert out['s_per_iter'] == pytest.approx(1.5)  # the first (start-up) window is left out
    assert out['data_s_per_iter'] == pytest.approx(0.2)
    assert out['memory_mb'] == 300
    empty = rc.parse_scalars(_write_log(tmp_path, 't2', []))
    assert empty == rc.empty_scalars()


def test_find_scalars_newest_then_json_log(tmp_path):
    assert rc.find_scalars(tmp_path) is None
    log = _write_log(tmp_path, '20260101_000000', [_val_rec(4, 1.0)], name='20260101_000000.json')
    assert rc.find_scalars(tmp_path) == log
    old = _write_log(tmp_path, '20260101_000000', [_val_rec(4, 1.0)])
    new = _write_log(tmp_path, '20260102_000000', [_val_rec(4, 2.0)])
    os.utime(old, (1, 1))
    assert rc.find_scalars(tmp_path) == new


def test_collect_statuses(tmp_path):
    run = rc.make_run(str(SEG_SMOKE), ['randomness.seed=3'])
    ok = tmp_path / 'ok'
    _write_log(ok, 't', [_train_rec(2), _val_rec(2, 33.0)])
    record = rc.collect(run, ok, dict(rc=0, wall_s=5.0), ['x.y=1'], None)
    assert record['status'] == 'ok' and record['metrics']['mIoU'] == 33.0
    assert record['options'] == ['randomness.seed=3', 'x.y=1']
    assert record['run_options'] == ['randomness.seed=3'] and record['wall_s'] == 5.0
    assert record['seed'] == 3 and 'flops' not in record  # the seed is read without FLOPs
    assert rc.collect(run, ok, dict(rc=1), [], None)['status'] == 'failed (rc 1)'
    assert rc.collect(run, ok, None, [], None)['status'] == 'not run'
    bare = tmp_path / 'bare'
    bare.mkdir()
    record = rc.collect(run, bare, dict(rc=0), [], None)
    assert record['status'] == 'no val metrics' and record['scalars'] is None


def test_model_stats_of_a_config():
    stats = rc.model_stats(str(SEG_SMOKE.relative_to(REPO_ROOT)), ['randomness.seed=5'],
                           (64, 64))
    assert stats['seed'] == 5 and 0 < stats['head_params'] < stats['params']
    assert 0 < stats['head_flops'] < stats['flops'] and stats['flops_shape'] == [64, 64]
    run = rc.Run('x', 'configs/nope.py', ())  # a config that cannot be read
    record = rc.collect(run, REPO_ROOT / 'no_such_dir', None, [], (64, 64))
    assert record['stats_error'].startswith('FileNotFoundError')


def test_markdown_and_top(tmp_path):
    records = {
        'a': dict(name='a', config='a.py', run_options=[], status='ok', seed=0,
                  metrics={'mIoU': 30.0}, params=2e6, val_iter=2000),
        'b': dict(name='b', config='b.py', run_options=['x.lr=1'], status='ok',
                  metrics={'mIoU': 40.0}),
        'c': dict(name='c', config='c.py', run_options=[], status='failed (rc 1)', metrics={}),
        'b_seed1': dict(name='b_seed1', config='b.py', run_options=['randomness.seed=1'],
                        status='ok', metrics={'mIoU': 99.0}),
    }
    table = rc.markdown(list(records.values())).splitlines()
    assert len(table) == 6 and all(line.count('|') == table[0].count('|') for line in table)
    assert '| `a` | 0 | 2000 | 30.00 |' in table[2] and '| 2.00 |' in table[2]
    assert table[4].endswith('| failed (rc 1) |') and '—' in table[4]
    top = rc.top_runs(records, 2, 'mIoU')
    assert [(r.config, r.options) for r in top] == [('b.py', ('x.lr=1', )), ('a.py', ())]
    assert [r.name for r in rc.with_seeds(top, [1])] == ['b_lr1_seed1', 'a_seed1']
    with pytest.raises(ValueError, match='no finished run'):
        rc.top_runs({'c': records['c']}, 2, 'mIoU')


def test_run_env_per_device():
    env = rc.run_env('cpu', 3, None)
    assert env['CUDA_VISIBLE_DEVICES'] == '' and env['OMP_NUM_THREADS'] == '3'
    assert env['PYTHONPATH'].split(os.pathsep)[0] == str(REPO_ROOT)
    assert rc.run_env('cuda', 1, '1')['CUDA_VISIBLE_DEVICES'] == '1'


FAKE_TRAIN = textwrap.dedent('''
    """Stand-in for tools/train.py: logs a result read from the config, or fails."""
    import json, os, sys, time
    config, work_dir = sys.argv[1], sys.argv[3]
    options = sys.argv[5:] if len(sys.argv) > 4 else []
    text = open(config).read()
    if 'FAIL' in text:
        print('Traceback: boom'); sys.exit(3)
    seed = [int(o.split('=')[1]) for o in options if o.startswith('randomness.seed=')]
    miou = float(text.split('MIOU=')[1].split()[0]) + (seed[0] if seed else 0) / 10
    vis = os.path.join(work_dir, time.strftime('%H%M%S') + str(time.time_ns()), 'vis_data')
    os.makedirs(vis)
    with open(os.path.join(vis, 'scalars.json'), 'w') as f:
        for it in (2, 4):
            f.write(json.dumps(dict(loss=1.0, time=0.5, data_time=0.1, iter=it, step=it)) + '\\n')
        f.write(json.dumps(dict(mIoU=miou, aAcc=90.0, step=4)) + '\\n')
    print('options', options)
''')


def test_driver_end_to_end_with_a_failure_and_a_second_pass(tmp_path, monkeypatch, capsys):
    fake = tmp_path / 'fake_train.py'
    fake.write_text(FAKE_TRAIN)
    monkeypatch.setattr(rc, 'TRAIN', fake)
    configs = tmp_path / 'configs'
    configs.mkdir()
    for name, body in (('a', 'MIOU=10'), ('b', 'MIOU=30'), ('c', 'MIOU=20'), ('d', 'FAIL')):
        (configs / f'{name}.py').write_text(f'# {body}\n')
    data = tmp_path / 'data'
    data.mkdir()
    work = tmp_path / 'work'
    common = ['--work-root', str(work), '--device', 'cpu', '--no-flops']
    code = rc.main([str(configs), '--jobs', '2', '--data-root', str(data), '--cfg-options',
                    'train_cfg.max_iters=4'] + common)
    out = capsys.readouterr().out
    assert code == 1  # d failed, the others finished
    assert 'd: failed (rc 3)' in out and 'Traceback: boom' in out
    results = json.loads((work / 'results.json').read_text())['runs']
    by_name = {r['name']: r for r in results}
    assert sorted(by_name) == ['a', 'b', 'c', 'd']
    assert by_name['b']['metrics']['mIoU'] == 30.0 and by_name['b']['status'] == 'ok'
    assert f'val_dataloader.dataset.data_root={data}' in by_name['a']['options']
    assert 'options' in (work / 'a' / 'train.log').read_text()
    assert '| `b` |' in (work / 'results.md').read_text()
    # finished runs are not trained again; --rerun would
    stamp_dirs = sorted(p.name for p in (work / 'a').iterdir() if p.is_dir())
    rc.main([str(configs / 'a.py'), '--data-root', str(data), '--cfg-options',
             'train_cfg.max_iters=4'] + common)
    assert 'already finished' in capsys.readouterr().out
    assert sorted(p.name for p in (work / 'a').iterdir() if p.is_dir()) == stamp_dirs
    # second pass: the 2 best first-pass runs with seed 1, added to the same tables
    assert rc.main(['--top', '2', '--seed', '1'] + common) == 0
    by_name = {r['name']: r for r in json.loads((work / 'results.json').read_text())['runs']}
    assert by_name['b_seed1']['metrics']['mIoU'] == pytest.approx(30.1)
    assert by_name['c_seed1']['run_options'] == ['randomness.seed=1']
    assert 'a_seed1' not in by_name and len(by_name) == 6
    # the tables can be rebuilt from the work dirs alone
    (work / 'results.json').unlink()
    assert rc.main([str(configs / 'b.py'), '--collect-only'] + common) == 0
    assert json.loads((work / 'results.json').read_text())['runs'][0]['status'] == 'ok'


def test_driver_refuses_bad_arguments(tmp_path):
    work = ['--work-root', str(tmp_path)]
    with pytest.raises(SystemExit, match='config not found'):
        rc.main(['configs/nope.py'] + work)
    with pytest.raises(SystemExit, match='no runs'):
        rc.main(work)
    with pytest.raises(SystemExit, match='no finished run'):
        rc.main(['--top', '2', '--seed', '1'] + work)
    for argv in (['--top', '2'], ['--data-root', str(tmp_path / 'nope')], ['--jobs', '0'],
                 ['--cfg-options', 'novalue']):
        with pytest.raises(SystemExit):
            rc.parse_args(argv + work)
    lst = tmp_path / 'l.txt'
    lst.write_text(f'{SEG_SMOKE}\n{SEG_SMOKE}\n')
    with pytest.raises(SystemExit, match='share a work dir'):
        rc.main(['--list', str(lst)] + work)
