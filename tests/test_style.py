"""The code stays clean under the flake8 configuration in setup.cfg."""
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_flake8_clean():
    proc = subprocess.run([sys.executable, '-m', 'flake8', 'mmsp', 'tools', 'tests', 'configs'],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
