"""Position-embedding resizing and loading SPFormer weights from classifier/runner checkpoints."""
import pytest
import torch
import torch.nn.functional as F

from mmsp.models.backbones import SPFormer
from mmsp.models.utils import resize_pos_embed

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 2), num_heads=2, sp_heads=2, sp_iter=2)


def test_resize_pos_embed_reference_and_errors():
    pe = torch.randn(1, 6 * 4, 5, dtype=torch.float64)
    assert resize_pos_embed(pe, (6, 4), (6, 4)) is pe
    out = resize_pos_embed(pe, (6, 4), (9, 7))
    grid = pe.transpose(1, 2).reshape(1, 5, 6, 4)
    ref = F.interpolate(grid, size=(9, 7), mode='bilinear', align_corners=False)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref.flatten(2).transpose(1, 2))
    # constant fields stay constant
    const = torch.full((1, 16, 3), 0.25)
    torch.testing.assert_close(
        resize_pos_embed(const, (4, 4), (7, 3)), torch.full((1, 21, 3), 0.25))
    # half precision is interpolated in float32 and returned in half
    assert resize_pos_embed(pe.half(), (6, 4), (3, 2)).dtype == torch.float16
    with pytest.raises(ValueError, match=r'expected \(B, 5\*5, C\)'):
        resize_pos_embed(pe, (5, 5), (3, 3))


def test_forward_resizes_pos_embed_for_other_grids():
    model = SPFormer(arch=TINY, img_size=64).eval()  # 4x4 learned grid
    stage = model.stages[0]
    assert stage.pos_embed.shape == (1, 16, 16)
    assert stage.pos_embed_for((4, 4)) is stage.pos_embed
    assert stage.pos_embed_for((7, 3)).shape == (1, 21, 16)
    non_square = SPFormer(arch=TINY, img_size=(64, 128))
    assert non_square.pos_grid == (4, 8) and non_square.stages[1].pos_embed.shape == (1, 32, 16)


def _ckpt(model, prefix='backbone.'):
    state = {prefix + k: v.clone() for k, v in model.state_dict().items()}
    state['head.fc.weight'] = torch.randn(10, 16)
    return state


def test_state_dict_hook_resizes_position_embeddings():
    torch.manual_seed(0)
    src = SPFormer(arch=TINY, img_size=64)  # 4x4
    src.init_weights()
    dst = SPFormer(arch=TINY, img_size=(96, 128))  # 6x8
    dst.load_state_dict(src.state_dict())
    for k in range(2):
        expected = resize_pos_embed(src.stages[k].pos_embed, (4, 4), (6, 8))
        torch.testing.assert_close(dst.stages[k].pos_embed, expected)
    other = {k: v for k, v in src.state_dict().items() if 'pos_embed' not in k}
    for name, value in dst.state_dict().items():
        if name in other:
            torch.testing.assert_close(value, other[name])
    # a non-square source grid cannot be inferred
    bad = dict(src.state_dict())
    bad['stages.0.pos_embed'] = torch.zeros(1, 12, 16)
    with pytest.raises(ValueError, match='not a square'):
        dst.load_state_dict(bad)
    # a channel mismatch is left to load_state_dict, which reports it
    bad['stages.0.pos_embed'] = torch.zeros(1, 16, 8)
    with pytest.raises(RuntimeError, match='size mismatch'):
        dst.load_state_dict(bad)


def test_pretrained_init_cfg_with_prefix(tmp_path):
    """A classifier-style checkpoint (``backbone.`` prefix, extra head keys, meta)."""
    torch.manual_seed(0)
    src = SPFormer(arch=TINY, img_size=64, out_type='avg_featmap')
    src.init_weights()
    path = tmp_path / 'cls.pth'
    torch.save(dict(meta=dict(epoch=3), state_dict=_ckpt(src)), path)
    init_cfg = dict(type='Pretrained', checkpoint=str(path), prefix='backbone.')
    same = SPFormer(arch=TINY, img_size=64, out_type='avg_featmap', init_cfg=init_cfg)
    same.init_weights()
    for (name, a), b in zip(src.state_dict().items(), same.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    # dense model at another size: pos embeds resized, fc_norm ignored, out_norms kept at init
    dense = SPFormer(
        arch=TINY, img_size=128, out_indices=(0, 2), out_pixels=True, init_cfg=init_cfg)
    dense.init_weights()
    torch.testing.assert_close(dense.stages[1].pos_embed,
                               resize_pos_embed(src.stages[1].pos_embed, (4, 4), (8, 8)))
    torch.testing.assert_close(dense.stages[0].sca[1].pixel_qkv.weight,
                               src.stages[0].sca[1].pixel_qkv.weight)
    assert torch.equal(dense.out_norms[0].weight, torch.ones(16))
