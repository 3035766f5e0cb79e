import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / 'tools' / 'experiments'))
import plot_runs  # noqa: E402


def write_run(root: Path, name: str, losses) -> Path:
    vis = root / name / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    lines = [json.dumps({'loss': loss, 'lr': 1e-3, 'step': 50 * (i + 1)})
             for i, loss in enumerate(losses)]
    lines.append(json.dumps({'mIoU': 12.5, 'step': 100}))  # a val record without the key
    (vis / 'scalars.json').write_text('\n'.join(lines) + '\n')
    return root / name


def test_read_series_keeps_only_records_with_the_key(tmp_path):
    run = write_run(tmp_path, 'a', [1.5, 1.0, 0.5])
    steps, values = plot_runs.read_series(plot_runs.find_scalars(run), 'loss')
    assert steps == [50, 100, 150]
    assert values == [1.5, 1.0, 0.5]
    assert plot_runs.read_series(plot_runs.find_scalars(run), 'mIoU') == ([100], [12.5])


def test_errors_name_the_run_and_the_key(tmp_path):
    run = write_run(tmp_path, 'a', [1.0])
    with pytest.raises(KeyError, match="'acc'"):
        plot_runs.read_series(plot_runs.find_scalars(run), 'acc')
    with pytest.raises(FileNotFoundError, match='empty_dir'):
        (tmp_path / 'empty_dir').mkdir()
        plot_runs.find_scalars(tmp_path / 'empty_dir')
    bad = tmp_path / 'bad.json'
    bad.write_text('{"loss": 1}\nnot json\n')
    with pytest.raises(ValueError, match='bad.json:2'):
        plot_runs.read_series(bad, 'loss')


def test_cli_writes_a_png_and_checks_labels(tmp_path):
    a = write_run(tmp_path, 'a', [1.5, 1.0])
    b = write_run(tmp_path, 'b', [1.2, 0.9])
    out = tmp_path / 'fig' / 'loss.png'
    script = REPO_ROOT / 'tools' / 'experiments' / 'plot_runs.py'
    subprocess.run([sys.executable, str(script), str(a), str(b), '--labels', 'A', 'B',
                    '--out', str(out)], check=True, capture_output=True)
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    done = subprocess.run([sys.executable, str(script), str(a), str(b), '--labels', 'A',
                           '--out', str(out)], capture_output=True, text=True)
    assert done.returncode != 0 and '--labels has 1 entries for 2 runs' in done.stderr
