"""The shell entry points: README commands, .ci/run, run_tests/run_demo, setup_env, dist_*.

The scripts run in a throw-away copy of the repository layout whose ``tools/setup_env.sh`` and
``.venv/bin/python`` are stand-ins, so nothing here installs packages or touches the real venv.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from tools_helpers import REPO_ROOT, SEG_SMOKE

SCRIPTS = ['tools/setup_env.sh', 'tools/run_tests.sh', 'tools/run_demo.sh', 'tools/dist_train.sh',
           'tools/dist_test.sh', '.ci/run']


def _write_exe(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _fake_root(tmp_path: Path, scripts, python: str) -> Path:
    """A repository-shaped folder with copies of ``scripts`` and a stand-in venv python."""
    root = tmp_path / 'repo'
    for rel in scripts:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / rel, root / rel)
    _write_exe(root / 'tools' / 'setup_env.sh', '#!/usr/bin/env bash\necho "[stub setup_env]"\n')
    _write_exe(root / '.venv' / 'bin' / 'python', python)
    return root


def _bash(args, cwd, env=None, timeout=60):
    return subprocess.run(['bash'] + args, cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=timeout)


@pytest.mark.parametrize('script', SCRIPTS)
def test_scripts_parse_and_fail_fast(script):
    text = (REPO_ROOT / script).read_text()
    assert re.search(r'set -E?euo pipefail', text)
    assert subprocess.run(['bash', '-n', str(REPO_ROOT / script)]).returncode == 0


def test_readme_commands_and_ci():
    readme = (REPO_ROOT / 'README.md').read_text()
    assert 'bash tools/run_demo.sh' in readme and 'bash tools/run_tests.sh' in readme
    commands = [line.strip() for line in (REPO_ROOT / '.ci' / 'run').read_text().splitlines()
                if line.strip() and not line.startswith('#')]
    # .ci/run runs exactly the README's test command
    assert commands[-1] == 'bash tools/run_tests.sh'
    assert os.access(REPO_ROOT / '.ci' / 'run', os.X_OK)


@pytest.mark.parametrize('code, expected', [(0, 0), (1, 1), (2, 2), (5, 1)])
def test_run_tests_exit_codes(tmp_path, code, expected):
    log = tmp_path / 'args.txt'
    root = _fake_root(tmp_path, ['tools/run_tests.sh'],
                      f'#!/usr/bin/env bash\necho "$@" > {log}\nexit {code}\n')
    proc = _bash(['tools/run_tests.sh'], cwd=root)
    assert proc.returncode == expected, proc.stderr
    assert '[stub setup_env]' in proc.stdout  # bootstrap first
    assert log.read_text().split() == ['-m', 'pytest', 'tests', '-q']
    if code == 5:
        assert 'collected no tests' in proc.stderr
    _bash(['tools/run_tests.sh', 'tests/test_x.py', '-k', 'y'], cwd=root)
    assert log.read_text().split() == ['-m', 'pytest', 'tests/test_x.py', '-k', 'y']


def test_setup_env_fast_path_and_named_failure(tmp_path):
    root = tmp_path / 'repo'
    (root / 'tools').mkdir(parents=True)
    shutil.copy(REPO_ROOT / 'tools' / 'setup_env.sh', root / 'tools' / 'setup_env.sh')
    venv = tmp_path / 'venv'
    # a venv whose python "verifies" fine: with the stamp the script stops after verifying
    _write_exe(venv / 'bin' / 'python', '#!/usr/bin/env bash\ncat > /dev/null\nexit 0\n')
    stamp = re.search(r'STAMP="\$VENV/([^"]+)"', (REPO_ROOT / 'tools' / 'setup_env.sh').read_text())
    (venv / stamp.group(1)).touch()
    proc = _bash(['tools/setup_env.sh'], cwd=root, env={'MMSP_VENV': str(venv)})
    assert proc.returncode == 0 and 'is complete' in proc.stdout
    # a broken venv: every step is attempted in order and the failing one is named
    _write_exe(venv / 'bin' / 'python', '#!/usr/bin/env bash\nexit 3\n')
    proc = _bash(['tools/setup_env.sh'], cwd=root, env={'MMSP_VENV': str(venv)})
    assert proc.returncode == 1
    assert re.search(r'FAILED at step: install build tools', proc.stderr)


def test_dist_scripts_call_torchrun(tmp_path):
    log = tmp_path / 'args.txt'
    root = _fake_root(tmp_path, ['tools/dist_train.sh', 'tools/dist_test.sh'],
                      f'#!/usr/bin/env bash\necho "$@" > {log}\n')
    proc = _bash(['tools/dist_train.sh', 'cfg.py', '4', '--amp'], cwd=root,
                 env={'PORT': '29511'})
    assert proc.returncode == 0, proc.stderr
    args = log.read_text().split()
    assert args[:2] == ['-m', 'torch.distributed.run']
    assert '--nproc_per_node=4' in args and '--master_port=29511' in args
    assert args[-5:] == [str(root / 'tools' / 'train.py'), 'cfg.py', '--launcher', 'pytorch',
                         '--amp']
    proc = _bash(['tools/dist_test.sh', 'cfg.py', 'c.pth', '2', '--out', 'o'], cwd=root)
    assert proc.returncode == 0, proc.stderr
    args = log.read_text().split()
    assert '--nproc_per_node=2' in args
    assert args[-7:] == [str(root / 'tools' / 'test.py'), 'cfg.py', 'c.pth', '--launcher',
                         'pytorch', '--out', 'o']
    assert _bash(['tools/dist_test.sh', 'cfg.py'], cwd=root).returncode == 2  # usage


@pytest.mark.slow
def test_dist_train_one_process(tiny_camvid, tmp_path):
    proc = _bash(['tools/dist_train.sh', str(SEG_SMOKE), '1', '--work-dir', str(tmp_path),
                  '--cfg-options'] + [f'{d}.dataset.data_root={tiny_camvid}'
                                      for d in ('train_dataloader', 'val_dataloader',
                                                'test_dataloader')],
                 cwd=REPO_ROOT, env={'PYTHON': sys.executable, 'PORT': '29517'}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / 'iter_2.pth').is_file()


@pytest.mark.slow
def test_run_demo_quick_on_generated_data(tmp_path):
    """The main job end to end (MMSP_DEMO_QUICK: 2 iterations per run) without ../shared/data."""
    root = _fake_root(tmp_path, ['tools/run_demo.sh'],
                      f'#!/usr/bin/env bash\nexec {sys.executable} "$@"\n')
    for name in ('train.py', 'test.py', 'eval_superpixels.py', 'analysis_tools',
                 'visualization', 'misc', 'dataset_converters'):
        (root / 'tools' / name).symlink_to(REPO_ROOT / 'tools' / name)
    (root / 'configs').symlink_to(REPO_ROOT / 'configs')
    work = tmp_path / 'work'
    proc = _bash(['tools/run_demo.sh'], cwd=root, timeout=900,
                 env={'MMSP_SHARED_DATA': str(tmp_path / 'absent'), 'WORK_DIR': str(work),
                      'PYTHONPATH': str(REPO_ROOT), 'MMSP_DEMO_QUICK': '1'})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert 'tiny generated image-folder set' in out and 'tiny generated CamVid-layout set' in out
    assert 'zero-shot evaluation skipped' in out
    assert (work / 'spformer-t_cifar10' / 'iter_2.pth').is_file()
    assert (work / 'sp-head_r18_camvid' / 'iter_2.pth').is_file()
    assert (work / 'curve_spformer-t_cifar10.png').is_file()
    assert len(list((work / 'pictures' / 'camvid_sp_head').glob('*.png'))) == 3
    summary = (work / 'SUMMARY.md').read_text()
    assert 'top-1 accuracy' in summary and 'val mIoU' in summary and 'n/a' not in summary
