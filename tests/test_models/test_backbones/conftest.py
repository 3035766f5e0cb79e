"""Keep mmengine's global default scope unchanged across the SPFormer tests.

Building mmpretrain classifiers and running a Runner set ``DefaultScope`` instances that would
otherwise leak into later tests (which build mmseg-scope models with unscoped names).
"""
import copy

import pytest
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def _restore_default_scope():
    saved = copy.copy(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
