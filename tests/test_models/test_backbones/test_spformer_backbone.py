"""SPFormer outputs: shapes for every arch / stride / odd sizes, association, gradients."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmsp.models.backbones import SPFormer
from mmsp.ops import SuperpixelGrid

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 2), num_heads=2, sp_heads=2, sp_iter=2)
WIDTHS = {'tiny': (32, 192, 2), 'small': (64, 384, 2), 'base': (96, 768, 3)}


def ceil(a, b):
    return -(-a // b)


@pytest.mark.parametrize('arch', ['tiny', 'small', 'base'])
@pytest.mark.parametrize('stride,tokens,r', [(16, 196, 4), (32, 49, 8), (56, 16, 8)])
def test_every_arch_and_stride_at_224(arch, stride, tokens, r):
    cp, cs, m = WIDTHS[arch]
    model = SPFormer(
        arch=arch, superpixel_stride=stride, out_indices=(1, -1), out_pixels=True).eval()
    assert (model.pixel_stride, model.cell_size) == (r, stride // r)
    with torch.no_grad():
        outs, assocs = model.forward_with_association(torch.randn(1, 3, 224, 224))
    side = int(math.sqrt(tokens))
    assert [tuple(o.shape) for o in outs] == [(1, cp, 224 // r, 224 // r), (1, cs, side, side),
                                              (1, cs, side, side)]
    assert model.out_channels == (cp, cs, cs)
    assert [tuple(a.shape) for a in assocs] == [(1, m, 9, 224 // r, 224 // r)] * 2


@pytest.mark.parametrize('stride', [16, 32, 56])
@pytest.mark.parametrize('size', [(225, 301), (97, 64), (17, 250)])
def test_odd_sizes(stride, size):
    model = SPFormer(
        arch=TINY, superpixel_stride=stride, img_size=224, out_indices=(0, 2),
        out_pixels=True).eval()
    r = model.pixel_stride
    h, w = ceil(size[0], r), ceil(size[1], r)
    gh, gw = ceil(size[0], stride), ceil(size[1], stride)
    img = torch.randn(2, 3, *size)
    with torch.no_grad():
        outs, assocs = model.forward_with_association(img)
        pooled = SPFormer(arch=TINY, superpixel_stride=stride, out_type='avg_featmap').eval()(img)
    assert tuple(outs[0].shape) == (2, 8, h, w)
    assert [tuple(o.shape) for o in outs[1:]] == [(2, 16, gh, gw)] * 2
    assert tuple(pooled[0].shape) == (2, 16)
    for a in assocs:
        assert tuple(a.shape) == (2, 2, 9, h, w)
        # -inf exactly at the candidates outside the ceil(H/s) x ceil(W/s) grid
        grid = SuperpixelGrid.of((h, w), model.cell_size)
        valid = grid.neighbor_mask()  # (gh, gw, 9)
        per_pixel = valid[torch.arange(h) // grid.stride][:, torch.arange(w) // grid.stride]
        assert torch.equal(torch.isfinite(a), per_pixel.permute(2, 0, 1).expand_as(a))


def test_padding_is_bottom_right_and_unfolded_outputs():
    torch.manual_seed(0)
    model = SPFormer(arch=TINY, img_size=32, out_indices=(0, 2), unfold_outputs=True).eval()
    img = torch.randn(1, 3, 30, 41)
    padded = F.pad(img, (0, 3, 0, 2))  # to multiples of r = 4
    with torch.no_grad():
        a, b = model(img), model(padded)
        shifted = model(F.pad(img, (3, 0, 2, 0)))
    for x, y, z in zip(a, b, shifted):
        assert tuple(x.shape) == (1, 16, 8, 11)  # unfolded to the pixel branch, stride 4
        torch.testing.assert_close(x, y)
        assert not torch.allclose(x, z)


def test_forward_association_contract():
    torch.manual_seed(0)
    model = SPFormer(arch=TINY, img_size=64).eval()
    img = torch.randn(2, 3, 50, 70)
    with torch.no_grad():
        _, assocs = model.forward_with_association(img)
        for stage in (0, 1, -1, -2):
            torch.testing.assert_close(model.forward_association(img, stage), assocs[stage])
        ids, counts = model.forward_superpixels(img)
    assert ids.shape == (2, 50, 70) and ids.dtype == torch.int64
    assert counts.shape == (2, )
    grid_cells = ceil(50, 16) * ceil(70, 16)
    for b in range(2):
        assert 1 <= counts[b] <= grid_cells
        assert ids[b].max() == counts[b] - 1 and ids[b].unique().numel() == counts[b]
    with pytest.raises(ValueError, match='stage 2 out of range'):
        model.forward_association(img, 2)


@pytest.mark.parametrize('kwargs', [
    dict(out_type='avg_featmap'),
    dict(out_indices=(0, 2), out_pixels=True),
    dict(unfold_outputs=True),
    dict(depths=(3, ), sp_iter=1, out_type='avg_featmap'),
    dict(sp_heads=1, sp_iter=1),
    dict(depths=(1, 1, 1), out_type='avg_featmap'),
])
def test_every_parameter_receives_a_gradient(kwargs):
    torch.manual_seed(0)
    model = SPFormer(arch=TINY, img_size=32, **kwargs).train()
    outs = model(torch.randn(2, 3, 36, 45))
    sum(o.square().mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_gradient_checkpointing_matches():
    torch.manual_seed(0)
    plain = SPFormer(arch=TINY, img_size=32, drop_path_rate=0., out_pixels=True).train()
    ckpt = SPFormer(
        arch=TINY, img_size=32, drop_path_rate=0., out_pixels=True, with_cp=True).train()
    ckpt.load_state_dict(plain.state_dict())
    img = torch.randn(2, 3, 32, 32)
    grads = []
    for model in (plain, ckpt):
        sum(o.sum() for o in model(img)).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], msg=name)


def test_drop_path_schedule_and_bf16_autocast():
    model = SPFormer(arch='tiny', drop_path_rate=0.3)
    rates = [
        blk.drop_path.drop_prob if hasattr(blk.drop_path, 'drop_prob') else 0.
        for stage in model.stages for blk in stage.blocks
    ]
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.3, 12))
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = model.eval()(torch.randn(1, 3, 64, 64))[0]
    assert torch.isfinite(out.float()).all()


def test_bad_inputs_raise():
    model = SPFormer(arch=TINY)
    with pytest.raises(ValueError, match=r'expected images \(B, 3, H, W\)'):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r'expected images'):
        model(torch.randn(3, 32, 32))


def test_only_the_selected_block_outputs_are_kept():
    """Each stage returns the tokens of the blocks in ``out_indices`` alone (the others are
    freed as the next block runs); the backbone maps them to its outputs in the asked order."""
    model = SPFormer(arch=TINY, img_size=32, out_indices=(2, 0)).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        x = model.stem(model._pad(images))
        z = model.superpixel_init(x)
        x0, z0, _, first = model.stages[0](x, z)  # default: every block
        _, _, _, kept = model.stages[0](x, z, [0])
        _, _, _, none = model.stages[0](x, z, [])
        _, _, _, second = model.stages[1](x0, z0)
        _, _, _, kept1 = model.stages[1](x0, z0, [1])
        outs = model(images)
    assert sorted(first) == [0] and sorted(kept) == [0] and none == {}
    assert sorted(second) == [0, 1] and sorted(kept1) == [1]
    assert torch.equal(kept[0], first[0]) and torch.equal(kept1[1], second[1])
    with pytest.raises(ValueError, match=r'keep \[2\] out of range for 2 blocks'):
        model.stages[1](x0, z0, [2])
    # global block 2 is block 1 of stage 1, block 0 that of stage 0; (B, h*w, C) -> (B, C, h, w)
    for out, norm, tokens in zip(outs, model.out_norms, (second[1], first[0])):
        expected = norm(tokens).transpose(1, 2).reshape(2, 16, 2, 2)
        torch.testing.assert_close(out, expected, rtol=0, atol=0)
