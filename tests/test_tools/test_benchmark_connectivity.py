"""tools/benchmarks/benchmark_connectivity.py: runs on synthetic maps and reports both passes."""
import json

import numpy as np
from tools_helpers import load_tool


def test_synthetic_run_reports_both_passes(tmp_path, capsys):
    tool = load_tool('benchmarks/benchmark_connectivity')
    out = tmp_path / 'rows.json'
    rows = tool.main(['--synthetic', '2', '--repeats', '1', '--out', str(out)])
    assert [r['kind'] for r in rows] == ['synthetic', 'synthetic']
    for row in rows:
        assert row['ours_ms'] > 0 and row['skimage_ms'] > 0
        assert 0 < row['ours_regions'] <= row['input_ids']  # the stray pixels merged back
        assert row['skimage_regions'] > 0
    assert json.loads(out.read_text()) == rows
    assert 'median ratio (ours / skimage)' in capsys.readouterr().out


def test_synthetic_map_is_fragmented_and_deterministic():
    tool = load_tool('benchmarks/benchmark_connectivity')
    a, b = tool.synthetic_map(0, 200), tool.synthetic_map(0, 200)
    assert a.shape == tool.BSDS_SHAPE and np.array_equal(a, b)
    from mmsp.ops import enforce_connectivity
    assert enforce_connectivity(a, 0)[1] > len(np.unique(a))  # stray pixels make pieces
