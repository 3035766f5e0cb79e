"""Shared helpers of tests/test_tools: smoke config paths, generated data, in-process tool runs."""
import importlib.util
import itertools
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, List

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
SEG_SMOKE = REPO_ROOT / 'configs' / 'smoke' / 'fcn_r18-d8_1xb2-2iter_camvid-64x64.py'
CLS_SMOKE = REPO_ROOT / 'configs' / 'smoke' / 'resnet18-w16_1xb8-2iter_cifar10-32px.py'
_counter = itertools.count()


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` as a module (cached); ``name`` may hold a folder
    (``experiments/run_configs``)."""
    key = 'mmsp_tools_' + name.replace('/', '_')
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO_ROOT / 'tools' / f'{name}.py')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[key] = module
    return sys.modules[key]


def unique_name(prefix: str) -> str:
    """An experiment name no other Runner of this process uses (mmengine keys its global
    MessageHub/Visualizer/logger instances by experiment name + second)."""
    return f'{prefix}{os.getpid()}_{next(_counter)}'


def data_options(data_root: Path, prefix: str = 'run', extra: List[str] = ()) -> List[str]:
    """``--cfg-options`` that point every dataloader at ``data_root``."""
    return ['--cfg-options'] + [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ] + [f'experiment_name={unique_name(prefix)}'] + list(extra)


def make_tiny_class_folders(root: Path, classes: Dict[str, int], split: str) -> Path:
    """``root/<split>/<class>/*.jpg`` with 32x32 images, a distinct colour per class."""
    rng = np.random.default_rng(0)
    for index, (name, count) in enumerate(classes.items()):
        folder = root / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            colour = np.array([index * 60 % 256, 255 - index * 40 % 256, index * 90 % 256])
            img = np.clip(colour + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(folder / f'{i:04d}.jpg')
    return root
