"""Shared pytest fixtures: location of the real data in ../shared/data (skip when absent)."""
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """``$MMSP_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get('MMSP_SHARED_DATA', REPO_ROOT.parent / 'shared' / 'data'))


def require_shared(subdir: str) -> Path:
    """Path of ``../shared/data/<subdir>``; skips the test cleanly when it is absent."""
    path = shared_data_root() / subdir
    if not path.is_dir():
        pytest.skip(f'real data not available: {path} is absent')
    return path


@pytest.fixture
def camvid_root() -> Path:
    return require_shared('camvid')


@pytest.fixture
def bsds_root() -> Path:
    return require_shared('bsds500')


@pytest.fixture
def cifar_root() -> Path:
    return require_shared('cifar10')


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep CPU tests deterministic-ish and light on the 2-core CI machine."""
    import torch
    prev = torch.get_num_threads()
    torch.set_num_threads(min(prev, 2))
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope='session')
def cpu_kernels():
    """``mmsp.ops.cpu_kernels`` with its C++ kernels built (~30 s the first time); skips where
    no C++ compiler or ninja is found (the library then falls back to the PyTorch ops)."""
    import shutil

    from torch.utils.cpp_extension import verify_ninja_availability

    from mmsp.ops import cpu_kernels as module
    try:
        verify_ninja_availability()
    except RuntimeError:
        pytest.skip('the fused CPU kernels need ninja')
    if shutil.which('c++') is None:
        pytest.skip('the fused CPU kernels need a C++ compiler')
    with module.use_cpu_kernels(True):
        if module.load_cpu_kernels() is None:
            pytest.fail('the fused CPU kernels did not build (see the warning)')
    return module
