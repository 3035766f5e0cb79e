"""Checkpoint safety end to end: a malicious pickle given to ``tools/test.py`` or to
``init_cfg=dict(type='Pretrained')`` is refused and its payload never runs.

(The loader itself, the allow-list and published checkpoints under plain
``torch.load(weights_only=True)`` are tested in tests/test_utils and tests/test_tools.)
"""
import os

import pytest
import torch
from reliability_helpers import SPFORMER_CFG, run_tool, spformer_options

from mmsp.utils import UnsafeCheckpointError


class _Payload:
    """Unpickling this runs ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


def _malicious(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': _Payload(f'touch {marker}')}, path)
    return path, marker


@pytest.mark.slow
def test_tools_test_refuses_a_malicious_checkpoint(cls_data, tmp_path):
    path, marker = _malicious(tmp_path)
    proc = run_tool(['tools/test.py', str(SPFORMER_CFG), str(path), '--work-dir',
                     str(tmp_path / 'work'), '--cfg-options'] + spformer_options(cls_data))
    assert proc.returncode != 0
    assert 'UnsafeCheckpointError' in proc.stderr and str(path) in proc.stderr
    assert 'posix.system' in proc.stderr or 'os.system' in proc.stderr
    assert not marker.exists()


def test_pretrained_init_cfg_refuses_a_malicious_checkpoint(tmp_path):
    from mmseg.models.backbones import ResNetV1c
    path, marker = _malicious(tmp_path)
    model = ResNetV1c(depth=18, base_channels=8, stem_channels=8,
                      init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        model.init_weights()
    assert not marker.exists()
    # the same backbone loads a tensor-only checkpoint through the same path
    good = tmp_path / 'good.pth'
    reference = ResNetV1c(depth=18, base_channels=8, stem_channels=8)
    torch.save({'state_dict': reference.state_dict()}, good)
    model = ResNetV1c(depth=18, base_channels=8, stem_channels=8,
                      init_cfg=dict(type='Pretrained', checkpoint=str(good)))
    model.init_weights()
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
