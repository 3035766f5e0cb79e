"""The one transformer block (mmsp.models.utils.TransformerBlock) against its definition."""
import pytest
import torch
import torch.nn.functional as F

from mmsp.models.backbones import SPFormer
from mmsp.models.decode_heads import SPTransformerHead
from mmsp.models.utils import TransformerBlock


def _reference(block, x):
    """x + attn(LN(x)), then + mlp(LN(.)), written out with explicit matmuls."""
    a, heads = block.attn, block.attn.num_heads
    b, n, c = x.shape
    h = F.layer_norm(x, (c, ), block.norm1.weight, block.norm1.bias, block.norm1.eps)
    qkv = (h @ a.qkv.weight.t() + a.qkv.bias).reshape(b, n, 3, heads, c // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    att = torch.softmax(q @ k.transpose(-1, -2) / (c // heads)**0.5, -1) @ v
    y = x + att.transpose(1, 2).reshape(b, n, c) @ a.proj.weight.t() + a.proj.bias
    h = F.layer_norm(y, (c, ), block.norm2.weight, block.norm2.bias, block.norm2.eps)
    m = block.mlp
    return y + F.gelu(h @ m.fc1.weight.t() + m.fc1.bias) @ m.fc2.weight.t() + m.fc2.bias


@pytest.mark.parametrize('drop', [0.0, 0.3])
def test_block_matches_its_definition(drop):
    torch.manual_seed(0)
    block = TransformerBlock(16, 4, 40, drop_rate=drop, attn_drop_rate=drop,
                             drop_path_rate=drop).double()
    block.init_weights()
    block.eval()  # dropout and stochastic depth are identities
    x = torch.randn(3, 10, 16, dtype=torch.float64)
    torch.testing.assert_close(block(x), _reference(block, x))


def test_init_is_truncated_normal_with_zero_bias_and_bad_width_raises():
    torch.manual_seed(0)
    block = TransformerBlock(64, 4, 256)
    block.init_weights()
    w = block.mlp.fc1.weight
    assert 0.017 < w.std() < 0.023 and abs(w.mean()) < 0.002
    assert (block.attn.qkv.bias == 0).all()
    with pytest.raises(ValueError, match=r'expected tokens \(B, N, 64\)'):
        block(torch.randn(2, 3, 65))


def test_backbone_and_head_share_the_block():
    backbone = SPFormer('tiny', img_size=64)
    head = SPTransformerHead(32, 32, in_index=0, num_classes=3, cell_size=4, num_layers=2,
                             num_attn_heads=4)
    assert all(isinstance(b, TransformerBlock) for b in backbone.stages[0].blocks)
    assert all(isinstance(b, TransformerBlock) for b in head.transformer)
