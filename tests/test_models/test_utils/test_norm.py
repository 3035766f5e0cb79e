"""LayerNorm2d and the ``LN2d`` norm type."""
import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.registry import DefaultScope

from mmsp.models.utils import LayerNorm2d, build_norm


def test_layer_norm_2d_matches_channel_layer_norm():
    norm = LayerNorm2d(5).double()
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (5, ), norm.weight, norm.bias, norm.eps)
    torch.testing.assert_close(norm(x), ref.permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match=r'B, C, \*spatial'):
        norm(torch.randn(5, 3))
    clip = torch.randn(2, 5, 2, 3, 4, dtype=torch.float64)  # (B, C, T, H, W)
    ref = F.layer_norm(clip.movedim(1, -1), (5, ), norm.weight, norm.bias, norm.eps)
    torch.testing.assert_close(norm(clip), ref.movedim(-1, 1))


def test_ln2d_is_a_registered_norm_type():
    norm = build_norm_layer(dict(type='LN2d', eps=1e-6), 7)[1]
    assert isinstance(norm, LayerNorm2d) and norm.eps == 1e-6
    with DefaultScope.overwrite_default_scope('mmseg'):
        assert isinstance(build_norm(dict(type='LN2d', eps=1e-6), 7), LayerNorm2d)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        # mmpretrain's own LN2d: the same function (an affine LayerNorm over the channels)
        other = build_norm(dict(type='LN2d', eps=1e-6), 7)
        assert isinstance(other, torch.nn.LayerNorm) and tuple(other.normalized_shape) == (7, )
    assert isinstance(build_norm(None, 7), torch.nn.Identity)
