"""tools/benchmarks/measure_memory.py on a small size: a fresh process per case, sane figures."""
import subprocess
import sys

import pytest
from reliability_helpers import REPO_ROOT


@pytest.mark.slow
def test_measure_memory_small_scale():
    proc = subprocess.run([sys.executable, 'tools/benchmarks/measure_memory.py',
                           '--scale', '0.0625'],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env={'OMP_NUM_THREADS': '1', 'PATH': '/usr/bin:/bin',
                               'PYTHONPATH': str(REPO_ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [x for x in proc.stdout.splitlines() if 'peak RSS' in x]
    assert len(lines) == 2
    assert lines[0].startswith('sp-head_r50_8xb2-80k_cityscapes-512x1024.py 64x128')
    assert lines[1].startswith('sp-head_spformer-s_8xb2-80k_cityscapes-512x1024.py 32x64')


def test_bad_arguments():
    proc = subprocess.run([sys.executable, 'tools/benchmarks/measure_memory.py',
                           '--config', 'x.py'],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and '--config needs --size' in proc.stderr
