"""Helpers of tests/test_reliability: shrunk configs, data roots, tool subprocesses."""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SP_HEAD_CFG = REPO_ROOT / 'configs' / 'sp_head' / 'sp-head_r50_1xb4-1k_camvid-240x320.py'
SPFORMER_CFG = REPO_ROOT / 'configs' / 'spformer' / 'spformer-t_1xb64-2k_cifar10-64px.py'


def probe_config(base: Path, folder: Path, kill_at: int = -1) -> Path:
    """A config in ``folder`` that inherits ``base`` and adds :class:`ReliabilityProbeHook`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f'probe_{base.stem}.py'
    path.write_text(
        f"_base_ = ['{base}']\n"
        "custom_imports = dict(imports=['mmsp', 'reliability_probe'], allow_failed_imports=False)\n"
        f"custom_hooks = [dict(type='ReliabilityProbeHook', kill_at={kill_at})]\n")
    return path


def sp_head_options(data_root: Path, iters: int = 2, n_train: int = 8, n_val: int = 4) -> List[str]:
    """``--cfg-options`` that shrink the CamVid SP-head config to seconds on a CPU.

    ResNetV1c-18 at 1/4 width (16..128 channels) instead of R50, 64x64 crops, a 32-channel head
    with one SCA iteration and one global layer, ``iters`` iterations of batch 2, evaluation on
    ``n_val`` images resized to 96x72 (metrics at the original size). SyncBN stays as the base
    config has it (the CPU path turns it into BN).
    """
    opts = [
        'model.backbone.depth=18', 'model.backbone.stem_channels=16',
        'model.backbone.base_channels=16', 'model.backbone.norm_cfg.type=SyncBN',
        'model.decode_head.in_channels=[16,32,64,128]', 'model.decode_head.channels=32',
        'model.decode_head.num_iterations=1', 'model.decode_head.num_layers=1',
        'model.decode_head.num_attn_heads=2', 'model.decode_head.query_grid=(2,2)',
        'model.decode_head.dropout_ratio=0.0', 'model.decode_head.norm_cfg.type=SyncBN',
        'model.data_preprocessor.size=(64,64)',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', f'train_dataloader.dataset.indices={n_train}',
        'train_dataloader.dataset.pipeline.2.scale=(96,72)',
        'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
    ]
    for loader in ('val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False',
                 f'{loader}.dataset.indices={n_val}', f'{loader}.dataset.pipeline.1.scale=(96,72)']
    opts += [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        'param_scheduler.0.start_factor=0.5', 'param_scheduler.0.end=1',
        'param_scheduler.1.begin=1', f'param_scheduler.1.end={iters}',
        f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=1',
    ]
    opts += [f'{d}.dataset.data_root={data_root}'
             for d in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    return opts


def spformer_options(data_root: Path, iters: int = 2, n_val: int = 8,
                     ckpt_interval: Optional[int] = None, val: bool = True) -> List[str]:
    """Shrunk CIFAR SPFormer-T: batch 4, ``iters`` iterations, no stochastic depth."""
    ckpt_interval = ckpt_interval or iters
    opts = [
        'model.backbone.drop_path_rate=0.0', 'train_dataloader.batch_size=4',
        'val_dataloader.batch_size=4', f'val_dataloader.dataset.indices={n_val}',
        'test_dataloader.batch_size=4', f'test_dataloader.dataset.indices={n_val}',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters if val else 10**6}',
        'param_scheduler.0.start_factor=0.5', 'param_scheduler.0.end=1',
        'param_scheduler.1.begin=1', f'param_scheduler.1.end={iters}',
        f'default_hooks.checkpoint.interval={ckpt_interval}',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'default_hooks.logger.interval=1',
    ]
    opts += [f'{d}.dataset.data_root={data_root}'
             for d in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    return opts


def make_tiny_cifar(root: Path, per_class: int = 2, classes: int = 10) -> Path:
    """``root/{train,test}/class<k>/*.jpg`` 32x32 images, a distinct colour per class."""
    rng = np.random.default_rng(0)
    for split in ('train', 'test'):
        for k in range(classes):
            folder = root / split / f'class{k}'
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                colour = np.array([k * 25, 255 - k * 25, (k * 90) % 256])
                img = np.clip(colour + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(folder / f'{i:03d}.jpg')
    return root


def run_tool(args: List[str], probe_dir: Optional[Path] = None, timeout: int = 300,
             env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run ``bash tools/<script>`` or ``python tools/<x>.py`` from the repo root, 1 thread."""
    full_env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHON=sys.executable,
                    PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(HERE)] + [
                        p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    if probe_dir is not None:
        full_env['MMSP_PROBE_DIR'] = str(probe_dir)
    full_env.update(env or {})
    cmd = (['bash'] + args) if args[0].endswith('.sh') else [sys.executable] + args
    return subprocess.run(cmd, cwd=REPO_ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def last_metrics(work_dir: Path) -> dict:
    """The last metrics line of the newest run's ``<timestamp>.json`` under ``work_dir``
    (``<ts>/vis_data/<ts>.json`` for training runs, ``<ts>/<ts>.json`` for tests)."""
    logs = sorted(
        list(work_dir.glob('*/vis_data/[0-9]*.json')) + list(work_dir.glob('*/[0-9]*.json')),
        key=lambda p: p.stem)
    assert logs, f'no json log under {work_dir}'
    lines = [json.loads(x) for x in logs[-1].read_text().splitlines() if x.strip()]
    rows = [r for r in lines if any('mIoU' in k or 'accuracy' in k or k.startswith('sp/')
                                    for k in r)]
    assert rows, f'no metrics in {logs[-1]}'
    return {k: v for k, v in rows[-1].items() if k not in ('step', 'time', 'data_time', 'iter')}


def free_port() -> str:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])
