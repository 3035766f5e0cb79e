"""tools/benchmarks/benchmark_spformer_parts.py: every part is timed on the inputs it had in a
forward."""
import json

import pytest
import torch
from tools_helpers import CLS_SMOKE, REPO_ROOT, SEG_SMOKE, load_tool

SPFORMER_T = REPO_ROOT / 'configs' / 'spformer' / 'spformer-t_1xb64-2k_cifar10-64px.py'


def test_parts_reproduce_the_forward():
    tool = load_tool('benchmarks/benchmark_spformer_parts')
    torch.manual_seed(0)
    backbone = tool.build_backbone(str(SPFORMER_T))
    images = torch.rand(2, 3, 64, 64)
    parts = tool.spformer_parts(backbone, images)
    names = [name for name, _, _ in parts]
    assert names == [
        'stem', 'superpixel init', 'stage 0 SCA 0', 'stage 0 SCA 1', 'stage 0 ViT blocks (2)',
        'stage 0 pixel unfolding', 'stage 1 SCA 0', 'stage 1 SCA 1', 'stage 1 ViT blocks (10)'
    ]
    assert [is_vit for _, is_vit, _ in parts] == ['ViT blocks' in n for n in names]
    calls = dict((name, call) for name, _, call in parts)
    with torch.no_grad():
        (pooled, ), assocs = backbone.forward_with_association(images)
        tokens = calls['stage 1 ViT blocks (10)']()
        fc = backbone.fc_norm
        torch.testing.assert_close(fc(tokens.mean(1)), pooled)
        # the last SCA layer of a stage is called with return_association=True, as in a forward
        torch.testing.assert_close(calls['stage 1 SCA 1']()[2], assocs[1])
        assert calls['stage 0 SCA 0']()[2] is None  # the others skip exporting theirs
        x = calls['stem']()
        assert x.shape == (2, 32, 16, 16)
        torch.testing.assert_close(calls['superpixel init'](), backbone.superpixel_init(x))


def test_report(capsys, tmp_path):
    out = tmp_path / 'parts.json'
    result = load_tool('benchmarks/benchmark_spformer_parts').main([
        '--config', str(SPFORMER_T), '--reference', str(CLS_SMOKE), '--shape', '64',
        '--warmup', '0', '--iters', '2', '--threads', '1', '--target-ratio', '1.5',
        '--out', str(out)
    ])
    text = capsys.readouterr().out
    assert 'threads: 1' in text and 'input: 1x3x64x64' in text and 'stage 1 SCA 1' in text
    assert len(result['parts']) == 9 and all(r['ms_per_img'] > 0 for r in result['parts'])
    vit = sum(r['ms_per_img'] for r in result['parts'] if r['vit'])
    assert result['vit_ms'] == pytest.approx(vit)
    assert result['vit_ms'] + result['non_vit_ms'] + result['rest_ms'] == pytest.approx(
        result['spformer_ms'])
    assert result['ratio'] == pytest.approx(result['spformer_ms'] / result['reference_ms'])
    assert result['non_vit_budget_ms'] == pytest.approx(1.5 * result['reference_ms'] - vit)
    # multiply-adds per image: every part counted, the rates follow from them
    assert all(r['macs'] > 0 for r in result['parts'])
    assert sum(r['macs'] for r in result['parts']) <= result['spformer_macs']
    assert result['non_vit_macs'] == result['spformer_macs'] - result['vit_macs']
    assert result['vit_gmacs'] == pytest.approx(result['vit_macs'] / result['vit_ms'] / 1e6)
    if result['non_vit_budget_ms'] > 0:
        assert result['required_non_vit_gmacs'] == pytest.approx(
            result['non_vit_macs'] / result['non_vit_budget_ms'] / 1e6)
    assert 'GMAC/s' in text
    assert json.loads(out.read_text())['parts'][0]['part'] == 'stem'


def test_non_spformer_backbone_is_refused():
    with pytest.raises(ValueError, match='not an SPFormer'):
        load_tool('benchmarks/benchmark_spformer_parts').main(
            ['--config', str(SEG_SMOKE), '--reference', str(CLS_SMOKE), '--iters', '1'])


@pytest.mark.parametrize('bad', [['--shape', '1', '2', '3'], ['--iters', '0'],
                                 ['--target-ratio', '0']])
def test_bad_arguments_are_refused(bad):
    with pytest.raises(SystemExit):
        load_tool('benchmarks/benchmark_spformer_parts').parse_args(
            ['--config', 'a.py', '--reference', 'b.py'] + bad)
