"""Strict loading (mmsp.utils.load_state_dict_checked / load_model_checkpoint): every mismatch
is named, nothing partial passes silently, and deliberate partial loads stay possible."""
import logging

import pytest
import torch
from torch import nn

from mmsp.utils import (CheckpointMismatchError, load_model_checkpoint, load_state_dict_checked,
                        state_dict_of)


class Net(nn.Module):

    def __init__(self, classes=3, width=4):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, width, 3), nn.BatchNorm2d(width))
        self.head = nn.Linear(width, classes)


def _save(tmp_path, model, name='ckpt.pth', **extra):
    path = tmp_path / name
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1), **extra), path)
    return str(path)


def test_matching_checkpoint_loads_exactly(tmp_path):
    src, dst = Net(), Net()
    path = _save(tmp_path, src)
    load_model_checkpoint(dst, path)
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value)


def test_other_num_classes_names_the_shapes_and_the_file(tmp_path):
    path = _save(tmp_path, Net(classes=11))
    with pytest.raises(CheckpointMismatchError) as info:
        load_model_checkpoint(Net(classes=5), path)
    message = str(info.value)
    assert path in message and 'shape mismatch (2)' in message
    assert 'head.weight [11, 4] in the checkpoint vs [5, 4] in the model' in message
    assert '--non-strict' in message


def test_other_architecture_names_missing_and_unexpected_keys(tmp_path):
    path = _save(tmp_path, nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(CheckpointMismatchError) as info:
        load_model_checkpoint(Net(), path)
    message = str(info.value)
    assert 'missing in the checkpoint (8)' in message and 'backbone.0.weight' in message
    assert 'unexpected (not in the model) (2): 0.weight, 0.bias' in message


def test_long_key_lists_are_capped(tmp_path):
    wide = nn.ModuleList(nn.Linear(1, 1) for _ in range(20))
    path = _save(tmp_path, wide)
    with pytest.raises(CheckpointMismatchError, match=r'unexpected .*\(40\).*\(32 more\)'):
        load_model_checkpoint(Net(), path)


def test_non_strict_loads_what_matches_and_says_so(tmp_path, caplog):
    src = Net(classes=11)
    path = _save(tmp_path, src)
    dst = Net(classes=5)
    head_before = dst.head.weight.clone()
    logger = logging.getLogger('strict_test')
    with caplog.at_level(logging.WARNING, logger='strict_test'):
        load_model_checkpoint(dst, path, strict=False, logger=logger)
    assert torch.equal(dst.backbone[0].weight, src.backbone[0].weight)
    assert torch.equal(dst.head.weight, head_before)  # mismatched: kept, not half-copied
    assert 'non-strict load' in caplog.text and 'head.weight' in caplog.text


def test_prefix_takes_one_part_strictly(tmp_path, caplog):
    """A model that is only a backbone wrapper takes a classifier's ``backbone.*`` keys."""

    class Wrapper(nn.Module):

        def __init__(self, width=4):
            super().__init__()
            self.backbone = Net(width=width).backbone

    src = Net()
    path = _save(tmp_path, src)
    with pytest.raises(CheckpointMismatchError, match=r'unexpected .*head\.weight'):
        load_model_checkpoint(Wrapper(), path)  # without the prefix: refused
    logger = logging.getLogger('prefix_test')
    dst = Wrapper()
    with caplog.at_level(logging.INFO, logger='prefix_test'):
        report = load_model_checkpoint(dst, path, prefix='backbone.', logger=logger)
    assert torch.equal(dst.backbone[0].weight, src.backbone[0].weight)
    assert report['meta'] == dict(iter=1)
    assert "2 other keys not used (head.weight, head.bias)" in caplog.text
    with pytest.raises(CheckpointMismatchError, match=r'shape mismatch'):
        load_model_checkpoint(Wrapper(width=8), path, prefix='backbone.')  # still strict
    with pytest.raises(CheckpointMismatchError, match="none of its 9 keys starts with 'neck.'"):
        load_model_checkpoint(Wrapper(), path, prefix='neck.')


def test_model_load_hooks_run_before_the_check(tmp_path):
    """A model's own load hook (SPFormer resizes position embeddings) is not a mismatch."""

    class Resizing(nn.Module):

        def __init__(self, size):
            super().__init__()
            self.pos = nn.Parameter(torch.zeros(size))
            self._register_load_state_dict_pre_hook(self._resize)

        def _resize(self, state_dict, prefix, *args):
            key = prefix + 'pos'
            if key in state_dict and state_dict[key].shape != self.pos.shape:
                state_dict[key] = state_dict[key][:1].expand_as(self.pos).clone()

    path = _save(tmp_path, Resizing(4))
    dst = Resizing(9)
    load_model_checkpoint(dst, path)
    assert dst.pos.shape == (9, )


def test_state_dict_of_strips_ddp_prefix():
    sd = state_dict_of({'state_dict': {'module.a': torch.ones(1)}})
    assert list(sd) == ['a']
    state = {'weight': torch.ones(1, 1), 'bias': torch.ones(1)}
    assert load_state_dict_checked(nn.Linear(1, 1), state, 'mem')['loaded'] == ['weight', 'bias']
