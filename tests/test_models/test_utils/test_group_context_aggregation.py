"""GroupContextAggregation equals a slow re-implementation of LGFormer's GCA layer.

The reference uses no mmsp operator and no ``TransformerBlock`` forward: explicit per-head,
per-group loops over the softmax-weighted sums, hand-written LayerNorms, an explicit average
pool over the adaptive bins ``[floor(i h / g), ceil((i + 1) h / g))``, and the ViT block
written out, all in float64. Values and gradients must match; grids not divisible by the pool.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from mmsp.models.utils import GroupContextAggregation


def ln(x, norm):
    """LayerNorm over the last dimension, written out."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def adaptive_pool(fmap, out):
    """(B, C, h, w) -> (B, C, gh, gw) by explicit averaging over the adaptive bins."""
    b, c, h, w = fmap.shape
    gh, gw = out
    rows = []
    for i in range(gh):
        r0, r1 = (i * h) // gh, -(-((i + 1) * h) // gh)
        cols = []
        for j in range(gw):
            c0, c1 = (j * w) // gw, -(-((j + 1) * w) // gw)
            cols.append(fmap[:, :, r0:r1, c0:c1].mean(dim=(2, 3)))
        rows.append(torch.stack(cols, -1))
    return torch.stack(rows, -2)


def cross_attention(attn, query, key, heads):
    """Pre-norm multi-head cross-attention with explicit loops; returns (out, weights)."""
    q = F.linear(ln(query, attn.norm_query), attn.q.weight, attn.q.bias)
    kv = F.linear(ln(key, attn.norm_key), attn.kv.weight, attn.kv.bias)
    c = query.shape[-1]
    k, v = kv[..., :c], kv[..., c:]
    d = c // heads
    b, nq, nk = query.shape[0], query.shape[1], key.shape[1]
    out = torch.zeros(b, nq, c, dtype=query.dtype)
    weights = torch.zeros(b, heads, nq, nk, dtype=query.dtype)
    for m in range(heads):
        sl = slice(m * d, (m + 1) * d)
        logits = torch.einsum('bic,bjc->bij', q[..., sl], k[..., sl]) / math.sqrt(d)
        w = torch.exp(logits - logits.amax(-1, keepdim=True))
        w = w / w.sum(-1, keepdim=True)
        weights[:, m] = w
        for i in range(nq):
            out[:, i, sl] = (w[:, i, :, None] * v[:, :, sl]).sum(1)
    return out, weights


def vit_block(blk, t):
    b, n, c = t.shape
    heads = blk.attn.num_heads
    qkv = F.linear(ln(t, blk.norm1), blk.attn.qkv.weight, blk.attn.qkv.bias)
    q, k, v = qkv.reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // heads), dim=-1)
    y = (attn @ v).transpose(1, 2).reshape(b, n, c)
    t = t + F.linear(y, blk.attn.proj.weight, blk.attn.proj.bias)
    hid = F.gelu(F.linear(ln(t, blk.norm2), blk.mlp.fc1.weight, blk.mlp.fc1.bias))
    return t + F.linear(hid, blk.mlp.fc2.weight, blk.mlp.fc2.bias)


def reference_gca(layer, tokens, grid, group_grid):
    """The four steps of the GCA layer, in float64 with loops."""
    b, n, c = tokens.shape
    heads = layer.num_heads
    fmap = tokens.transpose(1, 2).reshape(b, c, *grid)
    pooled = adaptive_pool(fmap, group_grid).flatten(2).transpose(1, 2)  # (B, G, C)
    q0 = F.gelu(ln(pooled, layer.init_norm))
    update, _ = cross_attention(layer.grouping, q0, tokens, heads)
    q1 = q0 + update
    pe = layer.pos_embed.transpose(1, 2).reshape(1, c, *layer.pos_grid)
    pe = F.interpolate(pe, size=group_grid, mode='bilinear', align_corners=False)
    q2 = q1 + pe.flatten(2).transpose(1, 2)
    for blk in layer.blocks:
        q2 = vit_block(blk, q2)
    update, assoc = cross_attention(layer.ungrouping, tokens, q2, heads)
    gamma = 1.0 if layer.gamma is None else layer.gamma
    return tokens + gamma * update, q2, assoc


def make_layer(**kwargs):
    torch.manual_seed(0)
    args = dict(embed_dims=12, num_heads=3, pos_grid=(2, 2), ungroup_layer_scale=0.5)
    args.update(kwargs)
    layer = GroupContextAggregation(**args).double()
    layer.init_weights()
    with torch.no_grad():  # non-trivial norms, LayerScale and biases on every path
        for name, p in layer.named_parameters():
            if 'norm' in name or 'gamma' in name or 'bias' in name:
                p.add_(0.3 * torch.randn_like(p))
    return layer


# (grid, layer kwargs, expected group grid): divisible, odd, 1-row, a fixed group grid, no
# LayerScale, two group blocks, no group block
CASES = [((8, 8), {}, (2, 2)), ((5, 7), {}, (2, 2)), ((15, 20), {}, (4, 5)),
         ((1, 9), {}, (1, 3)), ((6, 5), dict(group_grid=(3, 2)), (3, 2)),
         ((7, 6), dict(ungroup_layer_scale=None), (2, 2)),
         ((9, 4), dict(group_block_depth=2, pool_ratio=3), (3, 2)),
         ((4, 4), dict(group_block_depth=0), (1, 1))]


@pytest.mark.parametrize('grid,kwargs,group_grid', CASES)
def test_matches_dense_reference(grid, kwargs, group_grid):
    layer = make_layer(**kwargs)
    assert layer.group_grid_for(grid) == group_grid
    tokens = torch.randn(2, grid[0] * grid[1], 12, dtype=torch.double, requires_grad=True)
    out, groups, assoc = layer(tokens, grid)
    g = group_grid[0] * group_grid[1]
    assert out.shape == tokens.shape and groups.shape == (2, g, 12)
    assert assoc.shape == (2, 3, grid[0] * grid[1], g)
    ref_out, ref_groups, ref_assoc = reference_gca(layer, tokens, grid, group_grid)
    torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(groups, ref_groups, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(assoc, ref_assoc, rtol=1e-10, atol=1e-10)
    # gradients: with respect to the input and to every parameter
    weights = [torch.randn_like(t) for t in (out, groups, assoc)]
    params = [tokens] + [p for p in layer.parameters()]
    got = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, (out, groups, assoc))),
                              params, allow_unused=True)
    want = torch.autograd.grad(
        sum((w * t).sum() for w, t in zip(weights, (ref_out, ref_groups, ref_assoc))), params,
        allow_unused=True)
    for (name, _), a, b in zip([('tokens', None)] + list(layer.named_parameters()), got, want):
        if b is None:  # e.g. the unused position embedding entries of a 0-block layer: none
            assert a is None or torch.count_nonzero(a) == 0, name
            continue
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10, msg=name)


def test_association_rows_are_distributions():
    layer = make_layer()
    tokens = torch.randn(3, 35, 12, dtype=torch.double)
    _, _, assoc = layer(tokens, (5, 7))
    assert (assoc >= 0).all()
    torch.testing.assert_close(assoc.sum(-1), torch.ones(3, 3, 35, dtype=torch.double))
    # the grouping weights too (the layer does not return them; read them from its submodule)
    q0 = layer.init_groups(tokens, (5, 7))
    _, grouping = layer.grouping(q0, tokens)
    torch.testing.assert_close(grouping.sum(-1), torch.ones(3, 3, 4, dtype=torch.double))


def test_layer_scale_zero_is_identity_and_groups_follow_the_superpixels():
    layer = make_layer()
    with torch.no_grad():
        layer.gamma.zero_()
    tokens = torch.randn(2, 20, 12, dtype=torch.double)
    out, groups, _ = layer(tokens, (4, 5))
    assert torch.equal(out, tokens)
    # groups are initialised from the current superpixels: other tokens, other groups
    _, groups2, _ = layer(tokens.flip(1), (4, 5))
    assert not torch.allclose(groups, groups2)


def test_position_embedding_is_resized_for_other_group_grids():
    layer = make_layer(pos_grid=(2, 3), group_block_depth=0)
    tokens = torch.zeros(1, 6 * 10, 12, dtype=torch.double)  # groups = P + const
    q0 = layer.init_groups(tokens, (6, 10))
    _, groups, _ = layer(tokens, (6, 10))
    expected = q0 + layer.grouping(q0, tokens)[0] + layer.pos_embed  # same grid: P as stored
    torch.testing.assert_close(groups, expected)
    _, groups, _ = layer(torch.zeros(1, 9 * 9, 12, dtype=torch.double), (9, 9))
    assert groups.shape == (1, 9, 12)  # 3 x 3 groups, embedding resized from 2 x 3


def test_float32_layer_and_errors():
    layer = GroupContextAggregation(16, num_heads=4, pos_grid=(2, 2))
    layer.init_weights()
    out, groups, assoc = layer(torch.randn(2, 30, 16), (5, 6))
    assert out.dtype == torch.float32
    assert groups.shape == (2, 4, 16) and assoc.shape == (2, 4, 30, 4)
    with pytest.raises(ValueError, match='num_heads=5 must divide'):
        GroupContextAggregation(16, num_heads=5)
    with pytest.raises(ValueError, match='group_grid must be two ints'):
        GroupContextAggregation(16, num_heads=4, group_grid=(0, 2))
    with pytest.raises(ValueError, match='pool_ratio must be an int'):
        GroupContextAggregation(16, num_heads=4, pool_ratio=0)
    with pytest.raises(ValueError, match=r'expected tokens \(B, h\*w, 16\)'):
        layer(torch.randn(2, 30, 16), (5, 5))
