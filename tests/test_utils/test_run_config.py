"""config_family, build_model_from_config and method_names."""
import pytest
import torch
from mmengine.config import Config

from mmsp.utils import build_model_from_config, config_family, method_names


def test_config_family():
    assert config_family(Config(dict(default_scope='mmseg'))) == 'seg'
    assert config_family(Config(dict(default_scope='mmpretrain'))) == 'cls'
    with pytest.raises(ValueError, match='default_scope=None'):
        config_family(Config(dict()))
    with pytest.raises(ValueError, match="'mmdet'"):
        config_family(Config(dict(default_scope='mmdet')))


def test_build_model_reverts_sync_bn(tmp_path):
    path = tmp_path / 'sync_bn.py'
    path.write_text(
        "_base_ = ['mmseg::_base_/models/fcn_r50-d8.py', 'mmseg::_base_/default_runtime.py']\n"
        "model = dict(pretrained=None, backbone=dict(depth=18), auxiliary_head=None,\n"
        "             decode_head=dict(in_channels=512, channels=16, num_convs=1))\n")
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'

    def count(model, kind):
        return sum(isinstance(m, kind) for m in model.modules())

    reverted = build_model_from_config(cfg)
    assert count(reverted, torch.nn.SyncBatchNorm) == 0
    assert count(reverted, torch.nn.modules.batchnorm._BatchNorm) > 0
    kept = build_model_from_config(cfg, revert_sync_bn=False)
    assert count(kept, torch.nn.SyncBatchNorm) == count(
        reverted, torch.nn.modules.batchnorm._BatchNorm)


def test_build_model_in_mmpretrain_scope():
    cfg = Config(dict(default_scope='mmpretrain', model=dict(
        type='ImageClassifier', backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8,
                                              stem_channels=8),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=64))))
    model = build_model_from_config(cfg)
    assert type(model).__module__.startswith('mmpretrain')
    assert model(torch.rand(2, 3, 32, 32), mode='tensor').shape == (2, 3)


def test_method_names_are_distinct():
    names = method_names([['a/grid.py'], ['b/sp.py', 'w/iter_20.pth'], ['b/sp.py'],
                          ['c/sp.py', 'v/iter_20.pth'], ['slic.py']])
    assert names == ['grid', 'sp [iter_20] #1', 'sp [no checkpoint]', 'sp [iter_20] #2', 'slic']
    assert method_names([['x.py'], ['x.py']]) == ['x [no checkpoint] #1', 'x [no checkpoint] #2']
    assert method_names([['x.py', 'y.pth']]) == ['x']  # given once: the stem alone
    assert method_names([]) == []
