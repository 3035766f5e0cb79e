"""SPFormer forward vs a slow re-implementation of the paper's model from the module's weights.

The reference uses only plain torch and the dense (global, masked) association references of
``mmsp.ops.reference``: no block layout, no SCA module, no fused attention. It follows the
paper's architecture (arXiv 2401.02931) step by step, so a wiring error (order of updates, position
embeddings, unfolding, pooling, padding) shows up as a mismatch.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from mmsp.models.backbones import SPFormer
from mmsp.ops import SuperpixelGrid
from mmsp.ops.fast import fast_path, use_fast_path
from mmsp.ops.reference import (dense_association_logits, dense_superpixel_update, dense_unfold)

IMPLEMENTATIONS = ['plain'] + (['fast'] if use_fast_path() else [])

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 2), num_heads=2, sp_heads=2, sp_iter=2)


def ln2d(x, norm):
    return F.layer_norm(
        x.permute(0, 2, 3, 1), norm.normalized_shape, norm.weight, norm.bias,
        norm.eps).permute(0, 3, 1, 2)


def conv(x, layer, **kw):
    return F.conv2d(x, layer.weight, layer.bias, **kw)


def ref_sca(layer, x, z):
    """One SCA layer with dense, masked global attention."""
    cp, cs, m, s = layer.pixel_channels, layer.superpixel_channels, layer.num_heads, layer.stride
    xe = x + conv(x, layer.pixel_pe, padding=1, groups=cp)
    ze = z + conv(z, layer.superpixel_pe, padding=1, groups=cs)
    sp = ln2d(conv(ze, layer.superpixel_qkv), layer.superpixel_norm)
    px = ln2d(conv(xe, layer.pixel_qkv), layer.pixel_norm)
    sp_q, sp_k, sp_v = sp.split([cp, cp, cp], 1)  # full width with or without pixel update
    px_q, px_k, px_v = px.split([cp, cp, cs], 1)
    dz = dense_superpixel_update(px_k, sp_q, px_v, s, m)
    assoc = dense_association_logits(px_k, sp_q, s, m)
    z_new = z + layer.gamma_superpixel.view(1, -1, 1, 1) * dz
    if layer.update_pixels:
        x = x + layer.gamma_pixel.view(1, -1, 1, 1) * dense_unfold(px_q, sp_k, sp_v, s, m)
    return x, z_new, assoc


def ref_unfold_with_logits(assoc, values, stride):
    """sum_n softmax_n(A)_n V_{c_n(p)} per head, by explicit candidate gathering."""
    b, m, _, height, width = assoc.shape
    grid = SuperpixelGrid.of((height, width), stride)
    c = values.shape[1]
    w = torch.softmax(assoc, dim=2)
    vals = values.reshape(b, m, c // m, grid.rows * grid.cols)
    cy = torch.arange(height).div(stride, rounding_mode='floor').view(-1, 1).expand(height, width)
    cx = torch.arange(width).div(stride, rounding_mode='floor').view(1, -1).expand(height, width)
    out = torch.zeros(b, m, c // m, height, width, dtype=values.dtype)
    for n in range(9):
        dy, dx = n // 3 - 1, n % 3 - 1
        ok = (cy + dy >= 0) & (cy + dy < grid.rows) & (cx + dx >= 0) & (cx + dx < grid.cols)
        j = ((cy + dy).clamp(0, grid.rows - 1) * grid.cols + (cx + dx).clamp(0, grid.cols - 1))
        gathered = vals[..., j.reshape(-1)].reshape(b, m, c // m, height, width)
        out += torch.where(ok, w[:, :, n:n + 1], torch.zeros(())) * gathered
    return out.reshape(b, c, height, width)


def ref_block(blk, t):

    def ln(v, norm):
        return F.layer_norm(v, norm.normalized_shape, norm.weight, norm.bias, norm.eps)

    b, n, c = t.shape
    heads = blk.attn.num_heads
    qkv = F.linear(ln(t, blk.norm1), blk.attn.qkv.weight, blk.attn.qkv.bias)
    q, k, v = qkv.reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // heads), dim=-1)
    y = (attn @ v).transpose(1, 2).reshape(b, n, c)
    t = t + F.linear(y, blk.attn.proj.weight, blk.attn.proj.bias)
    hid = F.gelu(F.linear(ln(t, blk.norm2), blk.mlp.fc1.weight, blk.mlp.fc1.bias))
    return t + F.linear(hid, blk.mlp.fc2.weight, blk.mlp.fc2.bias)


def ref_forward(model, img):
    """Stem, init, stages (SCA, blocks, unfolding); returns the last tokens and associations."""
    r, s = model.pixel_stride, model.cell_size
    h0, w0 = img.shape[-2:]
    img = F.pad(img, (0, -w0 % r, 0, -h0 % r))
    stem = model.stem.layers
    x = img
    for i in range(0, len(stem), 3):
        x = F.gelu(
            ln2d(F.conv2d(x, stem[i].weight, None, stem[i].stride, stem[i].padding), stem[i + 1]))
    init = model.superpixel_init
    lifted = F.gelu(ln2d(conv(x, init.lift), init.norm))
    # average over the real pixels of every (possibly partial) cell
    grid = SuperpixelGrid.of((x.shape[2], x.shape[3]), s)
    cells = grid.cell_ids().view(-1)
    z = lifted.new_zeros(x.shape[0], lifted.shape[1], grid.num_superpixels)
    z.index_add_(2, cells, lifted.flatten(2))
    z = (z / torch.bincount(cells, minlength=grid.num_superpixels)).view(
        x.shape[0], -1, grid.rows, grid.cols)
    assocs = []
    for k, stage in enumerate(model.stages):
        for layer in stage.sca:
            x, z, assoc = ref_sca(layer, x, z)
        assocs.append(assoc)
        b, c, h, w = z.shape
        pe = stage.pos_embed.transpose(1, 2).reshape(1, c, *stage.pos_grid)
        pe = F.interpolate(pe, size=(h, w), mode='bilinear', align_corners=False)
        tokens = z.flatten(2).transpose(1, 2) + pe.flatten(2).transpose(1, 2)
        for blk in stage.blocks:
            tokens = ref_block(blk, tokens)
        z = tokens.transpose(1, 2).reshape(b, c, h, w)
        if k < len(model.stages) - 1:
            proj = ln2d(conv(z, stage.unfold.proj), stage.unfold.norm)
            x = x + stage.unfold.gamma.view(1, -1, 1, 1) * ref_unfold_with_logits(assoc, proj, s)
    return tokens, assocs


@pytest.mark.parametrize('impl', IMPLEMENTATIONS)
@pytest.mark.parametrize('size,stride', [((32, 48), 16), ((45, 37), 16), ((57, 70), 56)])
def test_forward_matches_reference(size, stride, impl):
    torch.manual_seed(0)
    with fast_path(impl == 'fast'):
        model = SPFormer(
            arch=TINY,
            superpixel_stride=stride,
            img_size=32,
            out_type='avg_featmap',
            drop_path_rate=0.,
            layer_scale_init=0.5).double().eval()
    model.init_weights()
    # make every LayerScale and norm non-trivial so that all paths are exercised
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'gamma' in name or 'norm' in name:
                p.add_(0.2 * torch.randn_like(p))
    img = torch.randn(2, 3, *size, dtype=torch.double)
    tokens, assocs = ref_forward(model, img)
    (pooled, ), got_assocs = model.forward_with_association(img)
    fc = model.fc_norm
    expected = F.layer_norm(tokens.mean(1), fc.normalized_shape, fc.weight, fc.bias, fc.eps)
    torch.testing.assert_close(pooled, expected, rtol=1e-9, atol=1e-9)
    assert len(got_assocs) == len(assocs) == 2
    for got, ref in zip(got_assocs, assocs):
        assert torch.equal(torch.isinf(got), torch.isinf(ref))
        finite = torch.isfinite(ref)
        torch.testing.assert_close(got[finite], ref[finite], rtol=1e-9, atol=1e-9)


def test_reference_detects_a_wiring_change():
    """The comparison can fail: a model without the unfolding no longer matches."""
    torch.manual_seed(0)
    model = SPFormer(
        arch=TINY, img_size=32, out_type='avg_featmap', drop_path_rate=0.,
        layer_scale_init=0.5).double().eval()
    model.init_weights()
    img = torch.randn(1, 3, 32, 32, dtype=torch.double)
    tokens, _ = ref_forward(model, img)
    fc = model.fc_norm
    expected = F.layer_norm(tokens.mean(1), fc.normalized_shape, fc.weight, fc.bias, fc.eps)
    torch.testing.assert_close(model(img)[0], expected, rtol=1e-9, atol=1e-9)
    model.stages[0].unfold = None
    assert not torch.allclose(model(img)[0], expected, rtol=1e-6, atol=1e-6)


def test_unfolded_outputs_use_their_own_stages_association():
    """``unfold_outputs``: every block's token map projected to pixels through the association
    of the block's stage (heads merged), not another stage's."""
    torch.manual_seed(0)
    model = SPFormer(
        arch=TINY, img_size=32, out_type='featmap', out_indices=(0, 2), unfold_outputs=True,
        out_norm_cfg=None, drop_path_rate=0., layer_scale_init=0.5).double().eval()
    model.init_weights()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'gamma' in name:
                p.add_(0.3 * torch.randn_like(p))
    img = torch.randn(1, 3, 32, 48, dtype=torch.double)
    outs, assocs = model.forward_with_association(img)
    assert not torch.allclose(assocs[0], assocs[1])  # the stages' associations differ
    plain = SPFormer(
        arch=TINY, img_size=32, out_type='featmap', out_indices=(0, 2), out_norm_cfg=None,
        drop_path_rate=0., layer_scale_init=0.5).double().eval()
    plain.load_state_dict(model.state_dict())
    maps = plain(img)  # (B, C, h, w) token maps of blocks 0 (stage 0) and 2 (stage 1)
    for out, fmap, assoc in zip(outs, maps, assocs):
        merged = assoc.sum(1, keepdim=True) / math.sqrt(assoc.shape[1])
        ref = ref_unfold_with_logits(merged, fmap, model.cell_size)
        torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)
