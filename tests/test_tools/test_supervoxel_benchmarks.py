"""tools/benchmarks: the supervoxel association timing (local vs global, same run) and the
supervoxel FLOPs tables (counted on the real modules, equal to the closed forms)."""
import re

import pytest
from tools_helpers import load_tool

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 1), num_heads=2, sp_heads=2, sp_iter=1)


def _rows(text):
    return [[c.strip() for c in line.strip('|').split('|')] for line in text.splitlines()
            if line.startswith('|') and not line.startswith('|---')][1:]


def test_association_benchmark_times_local_and_global_in_one_run(capsys):
    tool = load_tool('benchmarks/benchmark_supervoxel_association')
    tool.main(['--clips', '2x8x8', '4x8x8', '4x16x16', '--channels', '8', '--warmup', '0',
               '--repeat', '1', '--max-pairs', '3000'])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if re.match(r'\s+\d+x\d+x\d+ ', line)]
    assert len(lines) == 3
    for line in lines[:2]:  # 128 x 8 and 256 x 16 pairs: both timed, ratio printed
        local, glob, ratio = (float(v) for v in line.split('|')[1].split())
        assert local > 0 and glob > 0 and ratio == pytest.approx(glob / local, abs=0.06)
    assert 'skipped' in lines[2]  # 1024 voxels x 32 supervoxels > --max-pairs
    tool.main(['--clips', '2x8x8', '--channels', '8', '--warmup', '0', '--repeat', '1',
               '--causal'])
    assert 'causal=True' in capsys.readouterr().out


def test_block_counts_equal_the_closed_forms():
    tool = load_tool('benchmarks/supervoxel_flops')
    rows = tool.block_rows('small', (8, 240, 320), 16, (1, 2, 4))
    assert [(r['tokens'], r['s_t']) for r in rows] == [(2400, 1), (1200, 2), (600, 4)]
    for r in rows:
        assert r['attention'] == r['attention_formula'] and r['linear'] == r['linear_formula']
        assert r['attention'] + r['linear'] <= r['total'] <= 1.01 * (r['attention'] + r['linear'])
    # s_t = 2 halves the tokens: attention / 4, linear / 2
    assert rows[0]['attention'] == 4 * rows[1]['attention']
    assert rows[0]['linear'] == 2 * rows[1]['linear']
    table = _rows(tool.block_table(rows))
    assert table[1] == ['1200 (2)', '1.11 G', '1.11 G', '2.12 G', '2.12 G', '3.23 G']


def test_model_counts_fewer_tokens_and_attention_for_longer_cells():
    tool = load_tool('benchmarks/supervoxel_flops')
    rows = tool.model_rows(TINY, (4, 32, 32), 16, (1, 2))
    expected = [('per-frame', 16), ('spformer3d', 16), ('spformer3d', 8)]
    assert [(r['name'], r['tokens']) for r in rows] == expected
    # joint attention over the clip's 16 tokens costs 4x the per-frame attention over 4 tokens
    assert rows[1]['attention'] == 4 * rows[0]['attention']
    assert rows[2]['attention'] * 4 == rows[1]['attention']
    assert rows[2]['total'] < rows[1]['total']
    assert all(r['sca'] > 0 for r in rows)
    # 27 candidates against 9: the SCA layers of the clip model cost more than per frame
    assert rows[1]['sca'] > rows[0]['sca']
    assert len(_rows(tool.model_table(rows, (4, 32, 32), 16))) == 3
