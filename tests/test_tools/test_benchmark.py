"""tools/benchmark.py: several configs in one run, model parts, warm-up, report format."""
import json

import pytest
import torch
from tools_helpers import CLS_SMOKE, SEG_SMOKE, load_tool


def test_two_configs_one_run(capsys, tmp_path):
    out = tmp_path / 'bench.json'
    results = load_tool('benchmark').main([
        '--configs', str(SEG_SMOKE), str(CLS_SMOKE), '--shape', '32', '48', '--batch-size', '2',
        '--warmup', '1', '--iters', '2', '--threads', '1', '--out', str(out)
    ])
    text = capsys.readouterr().out
    assert 'device: cpu' in text and 'threads: 1' in text and 'input: 2x3x32x48' in text
    assert [r['config'] for r in results] == [str(SEG_SMOKE), str(CLS_SMOKE)]
    assert results[0]['ratio_to_first'] == 1.0
    for r in results:
        assert r['ms_per_img'] > 0
        assert r['img_per_s'] == pytest.approx(1e3 / r['ms_per_img'])
        assert r['ratio_to_first'] == pytest.approx(r['ms_per_img'] / results[0]['ms_per_img'])
        assert str(r['config']) in text
    assert results[0]['median_round_ratio'] == 1.0 and results[1]['median_round_ratio'] > 0
    assert json.loads(out.read_text())['results'][1]['config'] == str(CLS_SMOKE)


def test_rounds_are_interleaved_with_rotating_order():
    bench = load_tool('benchmark')
    calls = []
    steps = [lambda k=k: calls.append(k) for k in range(3)]
    times = bench.interleaved_times(steps, warmup=1, iters=4, device='cpu')
    assert calls[:3] == [0, 1, 2]  # warm-up: one call each
    assert calls[3:] == [0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 1, 2]  # round i starts with step i % 3
    assert [len(t) for t in times] == [4, 4, 4]


def test_parts_time_what_they_say():
    from mmengine.config import Config

    from mmsp.utils import build_model_from_config
    bench = load_tool('benchmark')
    model = build_model_from_config(Config.fromfile(str(SEG_SMOKE))).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        head_step = bench.make_step(model, 'decode_head', x, 'seg')
        backbone_step = bench.make_step(model, 'backbone', x, 'seg')
        full = model(x, mode='tensor')

        def no_backbone(*args):
            raise AssertionError('the backbone ran while timing the decode head')

        backbone_forward = model.backbone.forward
        model.backbone.forward = no_backbone  # features were computed once, before timing
        torch.testing.assert_close(head_step(), full)  # FCN-d8 logits at 1/8 resolution
        times, = bench.interleaved_times([head_step], warmup=2, iters=3, device='cpu')
        model.backbone.forward = backbone_forward
        assert backbone_step()[-1].shape == (1, 128, 4, 4)
    assert len(times) == 3 and all(t > 0 for t in times)
    with pytest.raises(ValueError, match='decode_head'):
        bench.make_step(torch.nn.Identity(), 'decode_head', x, 'cls')


def test_bad_arguments():
    bench = load_tool('benchmark')
    with pytest.raises(SystemExit):
        bench.parse_args(['--configs', str(SEG_SMOKE), '--iters', '0'])
    with pytest.raises(SystemExit):
        bench.parse_args(['--configs'])


def test_training_step_mode_updates_the_timed_part(capsys):
    bench = load_tool('benchmark')
    results = bench.main(['--configs', str(CLS_SMOKE), '--shape', '32', '--batch-size', '2',
                          '--warmup', '0', '--iters', '1', '--threads', '1', '--mode', 'train'])
    assert 'mode: train' in capsys.readouterr().out and results[0]['mode'] == 'train'
    model = torch.nn.Linear(3, 2)
    before = model.weight.detach().clone()
    step = bench.training_step(lambda: (model(torch.ones(4, 3)), [model(torch.zeros(1, 3))]),
                               model)
    step()
    assert not torch.equal(model.weight, before)  # AdamW moved the weights
    assert model.weight.grad is None  # gradients cleared for the next step


def test_also_plain_times_the_plain_form_in_the_same_rounds():
    spformer = 'configs/spformer/spformer-t_8xb128_in1k.py'
    results = load_tool('benchmark').main([
        '--configs', spformer, '--shape', '32', '--warmup', '0', '--iters', '1', '--threads',
        '1', '--part', 'backbone', '--also-plain'
    ])
    assert [r['config'] for r in results] == [spformer, spformer + ' (plain)']
    assert results[1]['fast_paths'] == 0
    from mmsp.ops.fast import use_fast_path
    assert (results[0]['fast_paths'] > 0) == use_fast_path()
