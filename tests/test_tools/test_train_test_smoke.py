"""End-to-end smoke: tools/train.py (2 iterations) then tools/test.py, seg and cls configs.

The segmentation smoke runs twice: on the real CamVid images in ../shared/data/camvid (skipped
when absent) and on a generated set in the same layout (always).
"""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tools_helpers import (CLS_SMOKE, REPO_ROOT, SEG_SMOKE, data_options, load_tool,
                           make_tiny_class_folders, unique_name)


@pytest.mark.slow
def test_seg_smoke_on_generated_data(tiny_camvid, tmp_path):
    """The fallback path (what tools/run_demo.sh uses without ../shared/data; the command-line
    entry points themselves are exercised by test_shell_scripts.py::test_run_demo...)."""
    work_dir = tmp_path / 'work'
    opts = data_options(tiny_camvid, 'generated')
    runner = load_tool('train').main([str(SEG_SMOKE), '--work-dir', str(work_dir)] + opts)
    assert runner.iter == 2 and (work_dir / 'iter_2.pth').is_file()
    assert Path(runner.train_dataloader.dataset.data_root) == tiny_camvid

    pred_dir = tmp_path / 'pred'
    metrics = load_tool('test').main([str(SEG_SMOKE), str(work_dir / 'iter_2.pth'), '--work-dir',
                                      str(work_dir), '--out', str(pred_dir)] + opts)
    assert set(metrics) >= {'aAcc', 'mIoU', 'mAcc'}
    # --out: one PNG label map per validation image, at the original (48 x 64) size
    labels = sorted((tiny_camvid / 'labels' / 'val').glob('*.png'))
    preds = sorted(pred_dir.glob('*.png'))
    assert [p.name for p in preds] == [p.name for p in labels]
    for pred in preds:
        arr = np.asarray(Image.open(pred))
        assert arr.shape == (48, 64) and arr.max() < 11


@pytest.mark.slow
def test_seg_smoke_on_real_camvid(camvid_root, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the config's data_root is relative to the repository root
    default_root = (REPO_ROOT / '..' / 'shared' / 'data' / 'camvid').resolve()
    if Path(camvid_root).resolve() == default_root:
        opts = ['--cfg-options', f'experiment_name={unique_name("real")}']
    else:  # $MMSP_SHARED_DATA points elsewhere
        opts = data_options(camvid_root, 'real')
    work_dir = tmp_path / 'work'
    runner = load_tool('train').main([str(SEG_SMOKE), '--work-dir', str(work_dir)] + opts)
    dataset = runner.train_dataloader.dataset
    assert Path(dataset.data_root).resolve() == Path(camvid_root).resolve()
    assert len(dataset) == 8 and dataset.get_data_info(0)['img_path'].endswith('.jpg')
    metrics = load_tool('test').main(
        [str(SEG_SMOKE), str(work_dir / 'iter_2.pth'), '--work-dir', str(work_dir)] + opts)
    assert set(metrics) >= {'aAcc', 'mIoU', 'mAcc'}
    assert 0.0 <= float(metrics['mIoU']) <= 100.0


@pytest.mark.slow
def test_cls_smoke(cifar_root_or_none, tmp_path):
    """mmpretrain config through the same tools: real CIFAR-10 subset, or generated folders."""
    if cifar_root_or_none is None:
        root = make_tiny_class_folders(tmp_path / 'cifar', {'a': 3, 'b': 3}, 'train')
        make_tiny_class_folders(root, {'a': 2, 'b': 2}, 'test')
        extra = ['val_dataloader.dataset.indices=None', 'test_dataloader.dataset.indices=None',
                 'model.head.num_classes=2', 'model.data_preprocessor.num_classes=2']
    else:
        root, extra = cifar_root_or_none, []
    opts = data_options(root, 'cls', extra)
    work_dir = tmp_path / 'work'
    runner = load_tool('train').main([str(CLS_SMOKE), '--work-dir', str(work_dir)] + opts)
    assert runner.iter == 2 and (work_dir / 'iter_2.pth').is_file()
    out = tmp_path / 'preds.pkl'
    metrics = load_tool('test').main(
        [str(CLS_SMOKE), str(work_dir / 'iter_2.pth'), '--work-dir', str(work_dir), '--out',
         str(out)] + opts)
    assert 0.0 <= float(metrics['accuracy/top1']) <= 100.0
    assert out.is_file() and out.stat().st_size > 0


@pytest.fixture
def cifar_root_or_none():
    # same rule as tests/conftest.py: $MMSP_SHARED_DATA or <repo>/../shared/data
    path = Path(os.environ.get('MMSP_SHARED_DATA', REPO_ROOT.parent / 'shared' / 'data'))
    path = path / 'cifar10'
    return path if path.is_dir() else None


@pytest.mark.slow
def test_stock_mmseg_test_tool_with_mmsp_config(seg_run_4iters, tiny_camvid, tmp_path):
    """mmseg's own tools/test.py (from its wheel) loads the plugin through custom_imports and a
    runner checkpoint through mmsp's safe loader."""
    import subprocess
    import sys

    import mmseg
    stock = Path(mmseg.__file__).parent / '.mim' / 'tools' / 'test.py'
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(
        [sys.executable, str(stock), str(SEG_SMOKE), str(seg_run_4iters / 'iter_2.pth'),
         '--work-dir', str(tmp_path)] + data_options(tiny_camvid, 'stock'),
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'Loads checkpoint by local_safe backend' in log and 'mIoU:' in log


@pytest.mark.slow
def test_train_amp_on_cpu(tiny_camvid, tmp_path):
    import math

    from mmsp.utils import CPUAmpOptimWrapper
    runner = load_tool('train').main([str(SEG_SMOKE), '--work-dir', str(tmp_path), '--amp'] +
                                     data_options(tiny_camvid, 'amp'))
    assert isinstance(runner.optim_wrapper, CPUAmpOptimWrapper)
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
