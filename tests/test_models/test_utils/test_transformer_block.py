"""mmsp.models.utils.transformer_block: the chunked CPU-inference path of ``Mlp`` against the plain
``fc2(act(fc1(x)))``, when it is (not) taken, and whole blocks / backbones with and without it."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmsp.models.backbones import SPFormer
from mmsp.models.utils.transformer_block import Mlp, TransformerBlock


def _mlp(embed=8, hidden=24, act_cfg=dict(type='GELU'), drop=0., bias=True, seed=0):
    torch.manual_seed(seed)
    mlp = Mlp(embed, hidden, act_cfg, drop)
    if not bias:
        mlp.fc2 = nn.Linear(hidden, embed, bias=False)
    return mlp.eval()


def _plain(mlp, x):
    """The MLP written out in full, one matmul per layer over all tokens."""
    hidden = mlp.act(x @ mlp.fc1.weight.t() + mlp.fc1.bias)
    out = hidden @ mlp.fc2.weight.t()
    return out if mlp.fc2.bias is None else out + mlp.fc2.bias


@pytest.mark.parametrize('shape', [(3, 7, 8), (2, 5, 4, 8), (13, 8)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('bias,act', [(True, 'GELU'), (False, 'ReLU')])
def test_chunked_inference_matches_plain(monkeypatch, shape, dtype, bias, act):
    mlp = _mlp(bias=bias, act_cfg=dict(type=act)).to(dtype)
    # 24 hidden channels: 5 rows per chunk, so the token counts (21, 40, 13) end in a part chunk
    monkeypatch.setattr(Mlp, 'CHUNK_BYTES', 5 * 24 * torch.finfo(dtype).bits // 8)
    x = torch.randn(*shape, dtype=dtype)
    with torch.no_grad():
        assert mlp.chunk_rows(x) == 5
        out = mlp(x)
    assert out.shape == x.shape and out.dtype == dtype and out.is_contiguous()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out, _plain(mlp, x), **tol)


def test_chunk_of_one_row_and_non_contiguous_input(monkeypatch):
    mlp = _mlp()
    monkeypatch.setattr(Mlp, 'CHUNK_BYTES', 1)  # at least one row per chunk
    x = torch.randn(4, 8, 3).transpose(1, 2)  # (4, 3, 8), not contiguous
    with torch.no_grad():
        assert mlp.chunk_rows(x) == 1
        torch.testing.assert_close(mlp(x), _plain(mlp, x), rtol=1e-5, atol=1e-6)


def test_one_chunk_takes_the_plain_path():
    mlp = _mlp()  # 4 MB of hidden activations: ~43k rows of 24 channels
    with torch.no_grad():
        assert mlp.chunk_rows(torch.randn(2, 196, 8)) == 0


@pytest.mark.filterwarnings('ignore::torch.jit.TracerWarning')
@pytest.mark.parametrize('case', ['grad', 'dropout', 'autocast', 'trace', 'mixed dtype'])
def test_plain_path_where_chunks_do_not_apply(monkeypatch, case):
    monkeypatch.setattr(Mlp, 'CHUNK_BYTES', 5 * 24 * 4)
    mlp, x = _mlp(drop=0.5 if case == 'dropout' else 0.), torch.randn(3, 7, 8)
    with torch.no_grad():
        assert mlp.chunk_rows(x) == 5  # eval, no autograd: chunks
    if case == 'grad':  # autograd: plain path, and every parameter gets a gradient
        assert mlp.chunk_rows(x) == 0
        mlp(x).sum().backward()
        assert all(p.grad is not None for p in mlp.parameters())
    elif case == 'dropout':  # training with dropout, even without autograd
        mlp.train()
        with torch.no_grad():
            assert mlp.chunk_rows(x) == 0
            mlp.eval()
            assert mlp.chunk_rows(x) == 5
    elif case == 'autocast':
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            assert mlp.chunk_rows(x) == 0
            assert mlp(x).dtype == torch.bfloat16
    elif case == 'trace':  # the FLOP counter traces the plain ops
        mlp.requires_grad_(False)
        seen = []
        with torch.no_grad():
            torch.jit.trace(lambda t: seen.append(mlp.chunk_rows(t)) or mlp(t), (x, ),
                            check_trace=False)
        assert seen == [0]
    else:
        with torch.no_grad():
            assert mlp.chunk_rows(x.double()) == 0
            with pytest.raises(RuntimeError):
                mlp(x.double())  # as nn.Linear itself


def test_bad_token_width_raises():
    with pytest.raises(ValueError, match=r'expected \(\.\.\., 8\) tokens'):
        _mlp()(torch.randn(2, 3, 9))


def test_block_with_chunked_mlp_matches_reference(monkeypatch):
    """A whole pre-norm block against its definition, with the MLP in chunks of 7 tokens."""
    torch.manual_seed(0)
    block = TransformerBlock(16, 4, 32).eval()
    monkeypatch.setattr(Mlp, 'CHUNK_BYTES', 7 * 32 * 4)
    x = torch.randn(3, 10, 16)
    with torch.no_grad():
        out = block(x)
        a = block.attn
        q, k, v = F.linear(block.norm1(x), a.qkv.weight, a.qkv.bias).reshape(
            3, 10, 3, 4, 4).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / 2., -1) @ v
        y = x + a.proj(att.transpose(1, 2).reshape(3, 10, 16))
        ref = y + _plain(block.mlp, block.norm2(y))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_spformer_backbone_with_and_without_chunks(monkeypatch):
    torch.manual_seed(0)
    backbone = SPFormer(arch='tiny', img_size=64, out_type='featmap', out_indices=(2, 11))
    backbone.init_weights()
    backbone.eval()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        monkeypatch.setattr(Mlp, 'CHUNK_BYTES', 2**40)
        ref = backbone(images)
        monkeypatch.setattr(Mlp, 'CHUNK_BYTES', 5 * 4 * backbone.embed_dims * 4)  # 5 rows
        assert backbone.stages[0].blocks[0].mlp.chunk_rows(torch.zeros(2, 16, 192)) == 5
        out = backbone(images)
    for a, r in zip(out, ref):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)
