"""SP-MAE: no leak of the masked content, mask ratio 0 = SPFormer, the partition, decoder and head.

The no-leak tests (MAE arXiv 2111.06377 masks patches; SP-MAE must mask in image space because
SPFormer's stem and SCA layers read every pixel): the encoder's outputs are bit-identical when
the image changes only under the pixel mask, and their gradient there is exactly zero.
"""
import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from torch.overrides import TorchFunctionMode

from mmsp.models.backbones import SPFormer
from mmsp.models.selfsup import SPMAE, SPMAEDecoder, SPMAEPretrainHead
from mmsp.ops import SuperpixelGrid


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build every SP-MAE part in mmpretrain's scope, whatever default scope an earlier test
    left (mmseg's, e.g.): the heads build their losses by type name."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 2), num_heads=2, sp_heads=2, sp_iter=2)
LOSS = dict(type='PixelReconstructionLoss', criterion='L2', channel=3)


def tiny_spmae(size=32, out_type='avg_featmap', **kwargs) -> SPMAE:
    """SP-MAE with a tiny SPFormer/8 (cc4 stem: r = 4, s = 2) at ``size`` px, initialised."""
    torch.manual_seed(0)
    grid = size // 8
    cfg = dict(
        type='SPMAE',
        backbone=dict(
            type='mmseg.SPFormer',
            arch=TINY,
            superpixel_stride=8,
            stem_type='cc4',
            img_size=size,
            out_type=out_type,
            drop_path_rate=0.),
        neck=dict(
            type='SPMAEDecoder',
            grid_size=grid,
            embed_dims=16,
            decoder_embed_dims=16,
            decoder_depth=1,
            decoder_num_heads=2),
        head=dict(type='SPMAEPretrainHead', embed_dims=16, patch_size=8, loss=LOSS),
        **kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    if model.teacher is not None:  # the first EMA update copies the student
        MessageHub.get_current_instance().update_info('max_iters', 10)
        model.teacher.update_parameters(type(model.teacher.module).of(model.backbone))
    return model.eval()


def masked_batch(model: SPMAE, size=32, batch=2, seed=1):
    """Images, their partition and a random token / pixel mask."""
    torch.manual_seed(seed)
    x = torch.randn(batch, 3, size, size)
    part = model.partition(x)
    keep_ids, token_mask = model.random_masking(batch, (size // 8)**2, x.device)
    pixel_mask = model.mask_pixels(part.ids, token_mask)
    return x, part, keep_ids, token_mask, pixel_mask


def encoder_outputs(model: SPMAE, x, pixel_mask, keep_ids):
    """Every encoder output: visible tokens, each stage's association and the decoder output."""
    latent, associations = model.encode(x, pixel_mask, keep_ids)
    return [latent, model.neck(latent, keep_ids)] + list(associations)


@pytest.mark.parametrize('partition', ['teacher', 'grid', 'slic'])
def test_outputs_do_not_change_when_the_image_changes_under_the_mask(partition):
    model = tiny_spmae(partition=partition)
    x, _, keep_ids, _, pixel_mask = masked_batch(model)
    assert 0 < pixel_mask.float().mean() < 1
    changed = torch.where(pixel_mask[:, None], 10 * torch.randn_like(x), x)
    with torch.no_grad():
        before = encoder_outputs(model, x, pixel_mask, keep_ids)
        after = encoder_outputs(model, changed, pixel_mask, keep_ids)
    for a, b in zip(before, after):
        assert torch.equal(a, b)


def test_gradient_of_every_output_is_zero_under_the_mask():
    model = tiny_spmae().train()
    x, _, keep_ids, _, pixel_mask = masked_batch(model)
    x.requires_grad_(True)
    outputs = encoder_outputs(model, x, pixel_mask, keep_ids)
    for out in outputs:
        weights = torch.randn_like(out).masked_fill(~torch.isfinite(out), 0)
        (grad, ) = torch.autograd.grad((out.nan_to_num(0, 0, 0) * weights).sum(), x,
                                       retain_graph=True)
        under = pixel_mask[:, None].expand_as(grad)
        assert torch.count_nonzero(grad[under]) == 0
        assert torch.count_nonzero(grad[~under]) > 0  # the visible pixels do matter


def test_dropping_tokens_without_masking_the_image_leaks():
    """Why SP-MAE masks before the stem: SPFormer's SCA layers rebuild dropped tokens from the
    pixels, so with the token mask alone the same change under the mask reaches every output."""
    model = tiny_spmae()
    x, _, keep_ids, _, pixel_mask = masked_batch(model)
    changed = torch.where(pixel_mask[:, None], 10 * torch.randn_like(x), x)
    no_mask = torch.zeros_like(pixel_mask)
    with torch.no_grad():
        before = encoder_outputs(model, x, no_mask, keep_ids)
        after = encoder_outputs(model, changed, no_mask, keep_ids)
    assert all(not torch.equal(a, b) for a, b in zip(before, after))


def test_mask_ratio_zero_is_plain_spformer():
    model = tiny_spmae(out_type='featmap', mask_ratio=0.)
    x, part, keep_ids, token_mask, pixel_mask = masked_batch(model)
    assert torch.equal(keep_ids, torch.arange(16).expand(2, 16)) and not token_mask.any()
    assert not pixel_mask.any()
    with torch.no_grad():
        latent, associations = model.encode(x, pixel_mask, keep_ids)
        outs, plain_associations = model.backbone.forward_with_association(x)
    assert torch.equal(latent, outs[0].flatten(2).transpose(1, 2))
    for a, b in zip(associations, plain_associations):
        assert torch.equal(a, b)


def test_forward_masked_uses_the_mask_token_and_checks_its_inputs():
    model = tiny_spmae()
    backbone = model.backbone
    x = torch.randn(1, 3, 32, 32)
    keep = torch.tensor([[0, 5, 9, 15]])
    with torch.no_grad():
        latent, _ = backbone.forward_masked(x, keep, model.mask_token)
        other, _ = backbone.forward_masked(x, keep, model.mask_token + 1)
    assert latent.shape == (1, 4, 16)
    assert not torch.equal(latent, other)  # stage 2 reads the refilled [MASK] slots
    with pytest.raises(ValueError, match='unique'):
        backbone.forward_masked(x, torch.tensor([[0, 0, 3]]), model.mask_token)
    with pytest.raises(ValueError, match='unique'):
        backbone.forward_masked(x, torch.tensor([[0, 16]]), model.mask_token)
    with pytest.raises(ValueError, match='unique'):
        backbone.forward_masked(x, torch.tensor([[-1, 3]]), model.mask_token)
    with pytest.raises(ValueError, match='int64'):
        backbone.forward_masked(x, keep.float(), model.mask_token)
    with pytest.raises(ValueError, match='mask_token'):
        backbone.forward_masked(x, keep, torch.zeros(3))


def test_teacher_partition_ids_are_grid_cells_among_the_candidates():
    model = tiny_spmae()
    x, part, *_ = masked_batch(model, size=40)
    grid = SuperpixelGrid.of((40, 40), 8)
    cells = grid.cell_ids()
    candidates = cells[None] + grid.neighbor_id_offsets()[:, None, None]  # (9, H0, W0)
    valid = grid.pixel_neighbor_mask()
    assert part.ids.shape == (2, 40, 40) and part.ids.max() < grid.num_superpixels
    assert ((candidates[None] == part.ids[:, None]) & valid[None]).sum(1).eq(1).all()
    weights = part.weights[:, 0]
    torch.testing.assert_close(weights.sum(1), torch.ones(2, 40, 40))
    assert (weights.masked_select(~valid[None]) == 0).all()
    # the id is the arg-max candidate of the soft weights (ties to the own cell)
    chosen = weights.gather(1, (candidates[None] == part.ids[:, None]).float().argmax(1, True))
    assert (chosen[:, 0] >= weights.amax(1) - 1e-5).all()


def test_grid_and_slic_partitions():
    model = tiny_spmae(partition='grid')
    x, part, *_ = masked_batch(model)
    grid = SuperpixelGrid.of((32, 32), 8)
    assert torch.equal(part.ids, grid.cell_ids().expand(2, 32, 32))
    assert torch.equal(part.weights[:, 0].argmax(1), torch.full((2, 32, 32), grid.center))
    assert torch.equal(part.weights.sum(2), torch.ones(2, 1, 32, 32))
    model = tiny_spmae(partition='slic')
    x, part, *_ = masked_batch(model)
    assert torch.equal(part.weights.sum(2), torch.ones(2, 1, 32, 32))  # one of the 9 cells
    assert part.ids.min() >= 0 and part.ids.max() < 16


@pytest.mark.parametrize('dilation', [0, 1, 2])
def test_pixel_mask_is_the_masked_tokens_dilated(dilation):
    model = tiny_spmae(partition='grid', dilation=dilation)
    _, part, _, token_mask, pixel_mask = masked_batch(model, batch=4)
    exact = token_mask.gather(1, part.ids.flatten(1)).view_as(part.ids)
    assert (pixel_mask >= exact).all()
    if dilation == 0:
        assert torch.equal(pixel_mask, exact)
    else:  # every masked pixel is within `dilation` (Chebyshev) of a masked token's pixel
        ys, xs = torch.meshgrid(torch.arange(32), torch.arange(32), indexing='ij')
        for b in range(4):
            src = torch.stack([ys[exact[b]], xs[exact[b]]], 1)
            dst = torch.stack([ys[pixel_mask[b]], xs[pixel_mask[b]]], 1)
            dist = (dst[:, None] - src[None]).abs().amax(-1).amin(1)
            assert dist.max() == dilation
    assert tiny_spmae().dilation == 2  # default: a quarter of the 8-px cell


def test_random_masking_keeps_round_1_minus_ratio():
    model = tiny_spmae(mask_ratio=0.6)
    keep_ids, token_mask = model.random_masking(3, 10, torch.device('cpu'))
    assert keep_ids.shape == (3, 4) and (keep_ids.diff(dim=1) > 0).all()
    assert token_mask.sum(1).tolist() == [6, 6, 6]
    assert not token_mask.gather(1, keep_ids).any()


def test_decoder_scatters_mask_tokens_and_adds_a_frozen_sincos_embedding():
    torch.manual_seed(0)
    neck = SPMAEDecoder(grid_size=(2, 3), embed_dims=8, decoder_embed_dims=12, decoder_depth=0)
    neck.init_weights()
    keep = torch.tensor([[1, 4]])
    latent = torch.randn(1, 2, 8)
    out = neck(latent, keep)
    assert out.shape == (1, 6, 12) and 'pos_embed' not in dict(neck.named_parameters())
    x = torch.cat([neck.mask_token.expand(1, 6, 12)], 1).clone()
    x[0, [1, 4]] = neck.decoder_embed(latent)[0]
    torch.testing.assert_close(out, neck.norm(x + neck.pos_embed))
    with pytest.raises(ValueError, match='disagree'):
        neck(latent, keep[:, :1])


def test_head_prediction_is_the_unfolding_decoder():
    """y_p = Linear([sum_n abar[p, n] d[c_n(p)] ; e(q_p)]) by explicit gathering, float64."""
    torch.manual_seed(0)
    head = SPMAEPretrainHead(LOSS, embed_dims=6, patch_size=4, cell_pos_dims=5).double()
    head.init_weights()
    b, h, w, p = 2, 3, 2, 4
    decoded = torch.randn(b, h * w, 6, dtype=torch.float64)
    grid = SuperpixelGrid.of((h * p, w * p), p)
    logits = torch.randn(b, 1, 9, h * p, w * p, dtype=torch.float64)
    weights = torch.softmax(logits.masked_fill(~grid.pixel_neighbor_mask()[None, None], -1e9), 2)
    pred = head(decoded, weights)
    ids = grid.cell_ids()[None] + grid.neighbor_id_offsets()[:, None, None]  # (9, H0, W0)
    ref = torch.zeros(b, 3, h * p, w * p, dtype=torch.float64)
    for y in range(h * p):
        for x in range(w * p):
            valid = grid.pixel_neighbor_mask()[:, y, x]
            cand = ids[valid, y, x]
            u = (weights[:, 0, valid, y, x, None] * decoded[:, cand]).sum(1)  # (B, C_d)
            e = head.cell_pos_embed[y % p, x % p].expand(b, -1)
            ref[:, :, y, x] = head.pred(torch.cat([u, e], 1))
    torch.testing.assert_close(pred, ref)


def test_head_loss_is_the_mean_squared_error_of_the_masked_pixels():
    torch.manual_seed(0)
    head = SPMAEPretrainHead(LOSS, embed_dims=6, patch_size=4)
    head.init_weights()
    decoded = torch.randn(2, 4, 6)
    weights = torch.softmax(torch.randn(2, 1, 9, 8, 8), 2)
    grid = SuperpixelGrid.of((8, 8), 4)
    weights = weights * grid.pixel_neighbor_mask()[None, None]
    inputs = torch.randn(2, 3, 8, 8)
    mask = torch.rand(2, 8, 8) > 0.5
    pred = head(decoded, weights)
    # MAE's norm_pix per 4x4 cell over its 48 values
    cells = inputs.reshape(2, 3, 2, 4, 2, 4)
    mean = cells.mean((1, 3, 5), keepdim=True)
    var = cells.var((1, 3, 5), keepdim=True)
    target = ((cells - mean) / (var + 1e-6)**.5).reshape(2, 3, 8, 8)
    expected = ((pred - target)**2 * mask[:, None]).sum() / (3 * mask.sum())
    torch.testing.assert_close(head.loss(decoded, inputs, weights, mask), expected)
    with pytest.raises(ValueError, match='square'):
        head.loss(decoded, inputs[..., :4], weights, mask)


def test_loss_trains_every_student_parameter_and_the_teacher_follows_by_ema():
    model = tiny_spmae().train()
    MessageHub.get_current_instance().update_info('max_iters', 4)
    teacher_before = {k: v.clone() for k, v in model.teacher.module.named_parameters()}
    losses = model.loss(torch.randn(2, 3, 32, 32), [])
    assert set(losses) == {'loss', 'masked_area'} and 0 < losses['masked_area'] <= 1
    losses['loss'].backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    assert not any(p.requires_grad for p in model.teacher.parameters())
    # one EMA step with CosineEMA's momentum at step 1 of 4
    momentum = 0.004 * (math.cos(math.pi / 4) + 1) / 2
    student = dict(type(model.teacher.module).of(model.backbone).named_parameters())
    for name, value in model.teacher.module.named_parameters():
        expected = (1 - momentum) * teacher_before[name] + momentum * student[name]
        torch.testing.assert_close(value, expected)


class _HostReads(TorchFunctionMode):
    """Counts the calls that read a tensor's value on the host (on an accelerator each one
    waits for the device) or whose output size depends on the values (unique, nonzero)."""
    NAMES = {'__bool__', '__float__', '__int__', '__index__', 'item', 'tolist', 'numpy',
             'unique', 'unique_consecutive', 'nonzero', 'masked_select', 'argwhere'}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.count += getattr(func, '__name__', '') in self.NAMES
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize('partition', ['teacher', 'grid'])
def test_a_training_step_reads_the_device_once_whatever_the_batch(partition):
    MessageHub.get_current_instance().update_info('max_iters', 10)
    counts = []
    for batch in (2, 5):
        model = tiny_spmae(partition=partition).train()
        x = torch.randn(batch, 3, 32, 32)
        model.loss(x, [])  # the first step copies the student into the teacher
        with _HostReads() as reads:
            model.loss(x, [])['loss'].backward()
        counts.append(reads.count)
    assert counts == [1, 1]  # forward_masked's check of keep_ids


def test_checks():
    with pytest.raises(ValueError, match='mask_ratio'):
        tiny_spmae(mask_ratio=1.)
    with pytest.raises(ValueError, match='partition'):
        tiny_spmae(partition='random')
    model = tiny_spmae()
    with pytest.raises(ValueError, match='multiples'):
        model.loss(torch.randn(1, 3, 36, 36), [])


def test_student_weights_load_into_plain_spformer(tmp_path):
    """An SP-MAE checkpoint's backbone.* keys are exactly a plain SPFormer's (no extra, none
    missing), and init_cfg=Pretrained with prefix='backbone.' loads them."""
    model = tiny_spmae()
    path = tmp_path / 'spmae.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    backbone = {
        k[len('backbone.'):]: v
        for k, v in model.state_dict().items() if k.startswith('backbone.')
    }
    plain = SPFormer(arch=TINY, superpixel_stride=8, stem_type='cc4', img_size=32,
                     out_type='avg_featmap')
    plain.load_state_dict(backbone, strict=True)  # raises on missing / unexpected keys
    loaded = SPFormer(
        arch=TINY,
        superpixel_stride=8,
        stem_type='cc4',
        img_size=64,
        out_type='avg_featmap',
        init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    loaded.init_weights()
    for name, value in loaded.state_dict().items():
        if 'pos_embed' not in name:  # position embeddings are resized from 4x4 to 8x8
            assert torch.equal(value, backbone[name]), name
