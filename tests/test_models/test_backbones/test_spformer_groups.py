"""SPFormer with GCA layers (group_cfg): placement, outputs, parameter names, checks.

The reference runs the backbone's own modules by hand (stem, init, SCA layers, blocks, GCA
layers, unfolding) in the order LGFormer (arXiv 2409.01353) gives: a GCA layer right after each
chosen global block. A GCA placed after another block, or outputs taken before the GCA layer,
no longer match.
"""
import pytest
import torch

from mmsp.models.backbones import SPFormer

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 3), num_heads=2, sp_heads=2, sp_iter=1)


def build(**kwargs):
    torch.manual_seed(0)
    args = dict(arch=TINY, img_size=(48, 64), out_indices=(1, 3), out_pixels=True,
                drop_path_rate=0., layer_scale_init=0.5)
    args.update(kwargs)
    model = SPFormer(**args).double().eval()
    model.init_weights()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'gamma' in name:
                p.add_(0.3 * torch.randn_like(p))
    return model


def reference(model, img, after):
    """Tokens of every global block (after its GCA layer) and the GCA outputs, by hand."""
    x = model.stem(model._pad(img))
    z = model.superpixel_init(x)
    tokens_after, groups, index = {}, [], 0
    for stage in model.stages:
        for layer in stage.sca:
            x, z, assoc = layer(x, z)
        b, c, h, w = z.shape
        t = z.flatten(2).transpose(1, 2) + stage.pos_embed_for((h, w))
        for i, block in enumerate(stage.blocks):
            t = block(t)
            if index in after:
                t, g, a = stage.gca[str(i)](t, (h, w))
                groups.append((g, a))
            tokens_after[index] = t
            index += 1
        z = t.transpose(1, 2).reshape(b, c, h, w)
        if stage.unfold is not None:
            x = stage.unfold(x, z, assoc)
    return tokens_after, groups


@pytest.mark.parametrize('after,size', [((1, 2, 3), (48, 64)), ((0, -1), (45, 70))])
def test_gca_layers_follow_their_blocks(after, size):
    model = build(group_cfg=dict(after_blocks=after, num_heads=2), out_groups=True)
    globals_ = sorted(i % 4 for i in after)
    assert model.group_after_blocks == tuple(globals_)
    img = torch.randn(2, 3, *size, dtype=torch.double)
    outs, assocs = model.forward_with_association(img)
    tokens, groups = reference(model, img, globals_)
    pixels, blk1, blk3, group_tokens, group_weights = outs
    h, w = -(-size[0] // 16), -(-size[1] // 16)
    for fmap, index, norm in ((blk1, 1, model.out_norms[0]), (blk3, 3, model.out_norms[1])):
        expected = norm(tokens[index]).transpose(1, 2).reshape(2, 16, h, w)
        torch.testing.assert_close(fmap, expected, rtol=1e-10, atol=1e-10)
    gh, gw = -(-h // 4), -(-w // 4)
    assert group_tokens.shape == (2, len(globals_), gh * gw, 16)
    assert group_weights.shape == (2, len(globals_), 2, h * w, gh * gw)
    for i, (g, a) in enumerate(groups):
        torch.testing.assert_close(group_tokens[:, i], g, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(group_weights[:, i], a, rtol=1e-10, atol=1e-10)
    assert len(assocs) == 2 and pixels.shape[1] == 8
    # forward() gives the same outputs
    for a, b in zip(model(img), outs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_without_group_cfg_nothing_changes():
    plain = build()
    names = [n for n, _ in plain.named_parameters()]
    assert not any('gca' in n for n in names) and plain.group_after_blocks == ()
    grouped = build(group_cfg=dict(after_blocks=(2, 3)))
    grouped_names = [n for n, _ in grouped.named_parameters()]
    # the group model adds parameters under stages.1.gca.* only
    assert [n for n in grouped_names if '.gca.' not in n] == names
    assert {n.split('.')[3] for n in grouped_names if '.gca.' in n} == {'1', '2'}
    # with the GCA LayerScale at zero, the group model computes the plain model's function
    grouped.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        for gca in grouped.stages[1].gca.values():
            gca.gamma.zero_()
    img = torch.randn(1, 3, 48, 64, dtype=torch.double)
    for a, b in zip(grouped(img), plain(img)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # ... and a non-zero LayerScale changes the output
    with torch.no_grad():
        grouped.stages[1].gca['2'].gamma.fill_(0.5)
    assert not torch.allclose(grouped(img)[-1], plain(img)[-1])


def test_group_settings_and_errors():
    model = build(group_cfg=dict(after_blocks=(1, 2, 3)))
    gca = model.stages[1].gca['0']
    assert gca.num_heads == 2 and gca.pos_grid == (1, 1)  # 3 x 4 grid at 48 x 64 -> 1 x 1
    assert model.get_layer_depth('stages.1.gca.2.grouping.q.weight') == (4, 6)
    assert model.get_layer_depth('stages.1.blocks.2.attn.qkv.weight') == (4, 6)
    big = SPFormer(arch=TINY, img_size=256, group_cfg=dict(after_blocks=3, group_block_depth=2))
    assert big.stages[1].gca['2'].pos_grid == (4, 4) and len(big.stages[1].gca['2'].blocks) == 2
    fixed = SPFormer(arch=TINY, img_size=64, group_cfg=dict(after_blocks=3, group_grid=(2, 3)))
    assert fixed.stages[1].gca['2'].pos_grid == (2, 3)
    with pytest.raises(ValueError, match='after_blocks must be global block indices'):
        SPFormer(arch=TINY, group_cfg=dict(after_blocks=(4, )))
    with pytest.raises(ValueError, match='after_blocks must be global block indices'):
        SPFormer(arch=TINY, group_cfg=dict(num_heads=2))
    with pytest.raises(ValueError, match='unknown group_cfg keys'):
        SPFormer(arch=TINY, group_cfg=dict(after_blocks=3, heads=2))
    with pytest.raises(ValueError, match='out_groups needs group_cfg'):
        SPFormer(arch=TINY, out_groups=True)
    with pytest.raises(ValueError, match='out_groups needs group_cfg'):
        SPFormer(arch=TINY, out_type='avg_featmap', out_groups=True,
                 group_cfg=dict(after_blocks=3))


def test_group_position_embeddings_resize_on_load():
    src = SPFormer(arch=TINY, img_size=128, group_cfg=dict(after_blocks=3))  # 8x8 -> 2x2
    dst = SPFormer(arch=TINY, img_size=256, group_cfg=dict(after_blocks=3))  # 16x16 -> 4x4
    dst.load_state_dict(src.state_dict())
    from mmsp.models.utils import resize_pos_embed
    torch.testing.assert_close(dst.stages[1].gca['2'].pos_embed,
                               resize_pos_embed(src.stages[1].gca['2'].pos_embed, (2, 2), (4, 4)))
