"""SPFormer3D: inflation from SPFormer (a one-frame clip is the image model), shapes, the
factorised position embedding, supervoxel ids, the causal option."""
import pytest
import torch

from mmsp.models.backbones import SPFormer, SPFormer3D, inflate_kernel
from mmsp.ops import SuperpixelGrid, hard_assignment
from mmsp.ops.fast import fast_path

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 2), num_heads=2, sp_heads=2, sp_iter=2)


def _models(**kwargs):
    """A 2-D SPFormer with non-trivial weights and the SPFormer3D inflated from it (float64)."""
    torch.manual_seed(0)
    common = dict(arch=TINY, layer_scale_init=0.5, drop_path_rate=0., **kwargs)
    with fast_path(False):
        image = SPFormer(superpixel_stride=16, img_size=(48, 64), **common)
        clip = SPFormer3D(superpixel_stride=(2, 16, 16), img_size=(4, 48, 64), **common)
    image.init_weights()
    with torch.no_grad():  # non-zero biases and norms everywhere
        for p in image.parameters():
            p.add_(0.1 * torch.randn_like(p))
    clip.load_state_dict(image.state_dict())
    return image.double().eval(), clip.double().eval()


def test_inflated_model_on_one_frame_is_the_image_model():
    image, clip = _models(out_indices=(0, 2), unfold_outputs=True, out_pixels=True)
    x = torch.randn(2, 3, 40, 60, dtype=torch.float64)  # not a multiple of the cells
    outs2d, assoc2d = image.forward_with_association(x)
    outs3d, assoc3d = clip.forward_with_association(x[:, :, None])
    assert len(outs2d) == len(outs3d) == 3
    for a, b in zip(outs2d, outs3d):
        assert b.shape == (a.shape[0], a.shape[1], 1) + a.shape[2:]
        torch.testing.assert_close(b[:, :, 0], a, atol=1e-6, rtol=0)
    for a, b in zip(assoc2d, assoc3d):
        assert b.shape == (2, 2, 27, 1) + a.shape[-2:]
        assert torch.isinf(b[:, :, :9]).all() and torch.isinf(b[:, :, 18:]).all()
        assert torch.equal(torch.isinf(b[:, :, 9:18, 0]), torch.isinf(a))
        finite = torch.isfinite(a)
        torch.testing.assert_close(b[:, :, 9:18, 0][finite], a[finite], atol=1e-6, rtol=0)
    ids2d, counts2d = image.forward_superpixels(x)
    ids3d, counts3d = clip.forward_supervoxels(x[:, :, None])
    assert torch.equal(ids3d[:, 0], ids2d) and torch.equal(counts3d, counts2d)


def test_one_temporal_cell_of_a_static_clip_is_the_image_model_on_every_frame():
    """t_s = 1: two identical frames in one 2-frame cell give the image model's outputs on both
    (9 candidates, the supervoxel update over both frames averages equal frames)."""
    image, clip = _models(unfold_outputs=True)
    x = torch.randn(1, 3, 32, 48, dtype=torch.float64)
    (out2d, ), _ = image.forward_with_association(x)
    (out3d, ), _ = clip.forward_with_association(x[:, :, None].expand(-1, -1, 2, -1, -1))
    for t in range(2):
        torch.testing.assert_close(out3d[:, :, t], out2d, atol=1e-6, rtol=0)


def test_inflation_puts_kernels_in_the_centre_slice_and_zeroes_temporal_embeddings():
    image, clip = _models()
    pe2d = image.stages[0].sca[0].pixel_pe.weight
    pe3d = clip.stages[0].sca[0].pixel_pe.weight
    assert pe3d.shape == pe2d.shape[:2] + (3, ) + pe2d.shape[2:]
    assert torch.equal(pe3d[:, :, 1], pe2d) and not pe3d[:, :, [0, 2]].any()
    assert torch.equal(clip.stages[1].sca[1].pixel_qkv.weight[:, :, 0],
                       image.stages[1].sca[1].pixel_qkv.weight)
    assert torch.equal(clip.stem.layers[0].weight, image.stem.layers[0].weight)  # per-frame stem
    assert all(not stage.temporal_pos_embed.any() for stage in clip.stages)
    with pytest.raises(ValueError, match='odd depth'):
        inflate_kernel(torch.zeros(2, 1, 3, 3), 2)


def test_pretrained_init_inflates_a_2d_checkpoint(tmp_path):
    image, _ = _models()
    path = str(tmp_path / 'spformer2d.pth')
    torch.save({'state_dict': {f'backbone.{k}': v.float() for k, v in image.state_dict().items()}},
               path)
    with fast_path(False):
        clip = SPFormer3D(
            TINY,
            img_size=(4, 48, 64),
            init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    clip.init_weights()
    clip.double().eval()
    x = torch.randn(1, 3, 1, 32, 48, dtype=torch.float64)
    torch.testing.assert_close(clip(x)[0][:, :, 0], image(x[:, :, 0])[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize('causal', [False, True])
def test_shapes_for_clips_of_any_size(causal):
    with fast_path(False):
        model = SPFormer3D(TINY, img_size=(4, 48, 64), out_indices=(0, 2), causal=causal).eval()
    x = torch.randn(2, 3, 5, 50, 70)  # T, H, W not multiples of the cells
    (z0, z2), assoc = model.forward_with_association(x)
    assert z0.shape == z2.shape == (2, 16, 3, 4, 5)
    assert [a.shape for a in assoc] == [(2, 2, 27, 5, 13, 18)] * 2
    assert model.pixel_stride == (1, 4, 4) and model.cell_size == (2, 4, 4)
    # causal: the 9 candidates of the next temporal cell are masked
    assert bool(torch.isinf(assoc[-1][:, :, 18:]).all()) == causal
    with fast_path(False):
        pooled = SPFormer3D(TINY, img_size=(4, 48, 64), out_type='avg_featmap').eval()
        dense = SPFormer3D(TINY, img_size=(4, 48, 64), unfold_outputs=True).eval()
    assert pooled(x)[0].shape == (2, 16)
    assert dense(x)[0].shape == (2, 16, 5, 13, 18)


@pytest.mark.parametrize('causal', [False, True])
def test_supervoxel_ids_are_valid_neighbours(causal):
    with fast_path(False):
        model = SPFormer3D(TINY, img_size=(4, 48, 64), causal=causal).eval()
    x = torch.randn(2, 3, 6, 40, 56)
    ids, counts = model.forward_supervoxels(x)
    assert ids.shape == (2, 6, 40, 56) and ids.dtype == torch.int64
    grid = SuperpixelGrid.of((6, 10, 14), (2, 4, 4))
    for b in range(2):
        assert sorted(torch.unique(ids[b]).tolist()) == list(range(int(counts[b])))
        assert 1 < counts[b] <= grid.num_superpixels
    # grid ids: each voxel's supervoxel is one of its candidate cells
    raw, _ = hard_assignment(model.forward_association(x), (2, 4, 4), contiguous=False)
    cell = torch.stack(
        torch.meshgrid(*(torch.arange(n) // c for n, c in zip(grid.size, grid.cell)),
                       indexing='ij'))  # (3, T, H, W)
    t_s, h_s, w_s = grid.shape
    sv = torch.stack([raw // (h_s * w_s), raw // w_s % h_s, raw % w_s], 1)  # (B, 3, T, H, W)
    offset = sv - cell
    assert offset.abs().max() <= 1
    assert offset[:, 0].max() == (0 if causal else 1)


def test_factorised_position_embedding_is_temporal_plus_spatial():
    with fast_path(False):
        model = SPFormer3D(TINY, img_size=(4, 48, 64))  # pos grid (2, 3, 4)
    stage = model.stages[0]
    assert stage.pos_embed.shape == (1, 12, 16) and stage.temporal_pos_embed.shape == (1, 2, 16)
    with torch.no_grad():
        stage.pos_embed.normal_()
        stage.temporal_pos_embed.normal_()
    pe = stage.pos_embed_for((2, 3, 4)).reshape(2, 3, 4, 16)
    torch.testing.assert_close(
        pe, stage.temporal_pos_embed.view(2, 1, 1, 16) + stage.pos_embed.view(1, 3, 4, 16))
    # other clip lengths: the temporal embedding is interpolated linearly (constant beyond ends)
    longer = stage.pos_embed_for((4, 3, 4)).reshape(4, 3, 4, 16) - stage.pos_embed.view(3, 4, 16)
    t0, t1 = stage.temporal_pos_embed[0]
    torch.testing.assert_close(longer[:, 0, 0], torch.stack([t0, 0.75 * t0 + 0.25 * t1,
                                                             0.25 * t0 + 0.75 * t1, t1]))


def test_bad_arguments_name_them():
    with pytest.raises(ValueError, match='superpixel_stride'):
        SPFormer3D(TINY, superpixel_stride=16)
    with pytest.raises(ValueError, match='superpixel_stride'):
        SPFormer3D(TINY, superpixel_stride=(2, 16, 8))
    with pytest.raises(ValueError, match='img_size'):
        SPFormer3D(TINY, img_size=224)
    with fast_path(False):
        model = SPFormer3D(TINY, img_size=(4, 48, 64))
    with pytest.raises(ValueError, match=r'clips \(N, 3, T, H, W\)'):
        model(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match='causal'):
        SPFormer(TINY).stages[0].sca[0].__class__(8, 16, 2, 4, causal=True)


def test_stem_embeds_every_frame_and_clips_of_a_batch_are_independent():
    image, clip = _models()
    x = torch.randn(2, 3, 3, 32, 48, dtype=torch.float64)
    pixels = clip._embed(x)
    assert pixels.shape == (2, 8, 3, 8, 12)
    for t in range(3):
        torch.testing.assert_close(pixels[:, :, t], image.stem(x[:, :, t]))
    batch = clip(x)[0]
    for b in range(2):
        torch.testing.assert_close(batch[b:b + 1], clip(x[b:b + 1])[0])


def test_static_clip_keeps_ids_constant_within_every_temporal_cell():
    """A repeated frame through an inflated model (zero temporal kernels and embedding): the
    frames of one temporal cell see the same candidates with the same features, so they get
    the same supervoxel ids."""
    _, clip = _models()
    frame = torch.randn(1, 3, 1, 48, 64, dtype=torch.float64)
    ids, counts = clip.forward_supervoxels(frame.expand(-1, -1, 6, -1, -1))
    assert ids.shape == (1, 6, 48, 64)
    for t in (0, 2, 4):
        assert torch.equal(ids[:, t], ids[:, t + 1])
    assert 1 < counts[0] <= 3 * 3 * 4  # a 3 x 3 x 4 grid of cells
    # a moving clip does not keep them (the test can fail)
    moving = torch.roll(frame.expand(-1, -1, 6, -1, -1).clone(), 1, dims=-1)
    moving[:, :, 1::2] = frame
    moved, _ = clip.forward_supervoxels(moving)
    assert any(not torch.equal(moved[:, t], moved[:, t + 1]) for t in (0, 2, 4))
