"""SPFormer is built by name from MMSegmentation and from MMPretrain configs."""
import pytest
import torch
from mmengine.registry import init_default_scope

import mmsp  # noqa: F401
from mmsp.models import SPFormer

TINY = dict(pixel_dims=16, embed_dims=32, depths=(1, 1), num_heads=2, sp_heads=2, sp_iter=1)


def test_mmseg_registry():
    from mmseg.registry import MODELS
    assert MODELS.get('SPFormer') is SPFormer


def test_mmpretrain_registry_and_classifier():
    pretrain = pytest.importorskip('mmpretrain')
    from mmpretrain.registry import MODELS
    assert MODELS.get('SPFormer') is SPFormer
    init_default_scope('mmpretrain')
    for name in ('SPFormer', 'mmseg.SPFormer'):  # plain and scoped names reach the same class
        model = MODELS.build(
            dict(type='ImageClassifier',
                 backbone=dict(type=name, arch=TINY, img_size=64),
                 neck=dict(type='GlobalAveragePooling'),
                 head=dict(type='LinearClsHead', num_classes=3, in_channels=32)))
        assert isinstance(model.backbone, SPFormer), name
        logits = model(torch.randn(2, 3, 64, 64), mode='tensor')
        assert logits.shape == (2, 3)
    assert pretrain.__version__
