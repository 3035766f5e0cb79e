"""Fixtures of the reliability tests: real data when ../shared/data has it, else generated."""
import os
from pathlib import Path

import pytest
from reliability_helpers import REPO_ROOT, make_tiny_cifar


def shared_data_root() -> Path:
    """``$MMSP_SHARED_DATA`` or ``<repo>/../shared/data`` (as tests/conftest.py)."""
    return Path(os.environ.get('MMSP_SHARED_DATA', REPO_ROOT.parent / 'shared' / 'data'))


@pytest.fixture(scope='session')
def seg_data(tmp_path_factory) -> Path:
    """CamVid from ../shared/data/camvid, or a generated set in the same layout."""
    real = shared_data_root() / 'camvid'
    if real.is_dir():
        return real
    from mmsp.utils import make_tiny_camvid
    root = tmp_path_factory.mktemp('tiny_camvid')
    make_tiny_camvid(str(root), {'train': 8, 'val': 5}, size=(72, 96), seed=0)
    return root


@pytest.fixture(scope='session')
def cls_data(tmp_path_factory) -> Path:
    """The CIFAR-10 subset from ../shared/data/cifar10, or generated class folders."""
    real = shared_data_root() / 'cifar10'
    if real.is_dir():
        return real
    return make_tiny_cifar(tmp_path_factory.mktemp('tiny_cifar'))
