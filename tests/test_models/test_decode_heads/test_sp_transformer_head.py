"""SPTransformerHead: shapes, the association projection vs a slow reference, gradients, errors."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmsp  # noqa: F401  (registers the head)
from mmsp.models.decode_heads import SPTransformerHead
from mmsp.ops import NEIGHBOR_OFFSETS, upsample_association

MIT_CHANNELS = [8, 16, 24, 32]  # MiT-style widths, scaled down
RES_CHANNELS = [16, 32, 64, 128]  # ResNet-style widths, scaled down
STRIDES = [4, 8, 16, 32]


def pyramid(batch, height, width, channels, seed=0):
    """Backbone-like maps with ceil-sized levels (as ResNet/MiT produce for odd inputs)."""
    g = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(batch, c, -(-height // s), -(-width // s), generator=g)
        for c, s in zip(channels, STRIDES))


def make_head(in_channels=MIT_CHANNELS, **kwargs):
    cfg = dict(
        type='SPTransformerHead',
        in_channels=in_channels,
        in_index=list(range(len(in_channels))) if isinstance(in_channels, list) else 0,
        channels=32,
        cell_size=4,
        query_grid=(3, 4),
        num_iterations=2,
        association_heads=2,
        num_layers=2,
        num_attn_heads=4,
        num_classes=5,
        norm_cfg=dict(type='BN'),
        dropout_ratio=0.0)
    cfg.update(kwargs)
    torch.manual_seed(0)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def capture_superpixel_logits(head):
    """Register a hook that stores the per-superpixel logits (output of conv_seg)."""
    store = {}
    head.conv_seg.register_forward_hook(lambda m, i, o: store.__setitem__('logits', o))
    return store


def slow_projection(sp_logits, association, s):
    """Reference: Y_p = sum_n softmax_n(merged A_p)_n L_{cell(p)+offset(n)}, pixel by pixel."""
    b, m, _, height, width = association.shape
    merged = association.sum(dim=1) / math.sqrt(m)
    rows, cols = sp_logits.shape[-2:]
    out = torch.zeros(b, sp_logits.shape[1], height, width, dtype=torch.float64)
    assert (rows, cols) == (-(-height // s), -(-width // s))
    for bi in range(b):
        for y in range(height):
            for x in range(width):
                cy, cx = y // s, x // s
                cands, logits = [], []
                for n, (dy, dx) in enumerate(NEIGHBOR_OFFSETS):
                    if 0 <= cy + dy < rows and 0 <= cx + dx < cols:
                        cands.append((cy + dy, cx + dx))
                        logits.append(merged[bi, n, y, x].double())
                w = torch.softmax(torch.stack(logits), dim=0)
                vals = torch.stack([sp_logits[bi, :, r, c].double() for r, c in cands], dim=1)
                out[bi, :, y, x] = vals @ w
    return out


@pytest.mark.parametrize('channels', [MIT_CHANNELS, RES_CHANNELS], ids=['mit', 'resnet'])
@pytest.mark.parametrize('batch,size', [(2, (64, 96)), (1, (61, 83))], ids=['even', 'odd-b1'])
def test_forward_shapes(channels, batch, size):
    head = make_head(channels)
    feats = pyramid(batch, *size, channels)
    logits, assoc = head.forward_with_association(feats)
    h, w = feats[0].shape[2:]
    assert logits.shape == (batch, 5, h, w)
    assert assoc.shape == (batch, 2, 9, h, w)
    assert head.cell_size == 4
    assert torch.isfinite(logits).all()
    assert torch.equal(head(feats), logits)


def test_projection_matches_slow_reference_and_is_convex():
    head = make_head().eval()
    store = capture_superpixel_logits(head)
    feats = pyramid(2, 45, 54, MIT_CHANNELS)  # 12x14 pixel map, 3x4 grid with partial cells
    with torch.no_grad():
        logits, assoc = head.forward_with_association(feats)
    sp = store['logits']
    assert sp.shape == (2, 5, 3, 4)
    ref = slow_projection(sp, assoc, 4)
    torch.testing.assert_close(logits.double(), ref, rtol=1e-5, atol=1e-5)
    # convexity: every pixel logit lies within the range of the superpixel logits around it
    assert logits.min() >= sp.min() - 1e-5 and logits.max() <= sp.max() + 1e-5


def test_association_upsampling_matches_reference():
    head = make_head(association_upsample=2).eval()
    store = capture_superpixel_logits(head)
    feats = pyramid(1, 40, 44, MIT_CHANNELS)  # 10x11 map -> 20x22 logits, cell 8
    with torch.no_grad():
        logits, assoc = head.forward_with_association(feats)
    assert assoc.shape[-2:] == (10, 11) and logits.shape[-2:] == (20, 22)
    merged = assoc.sum(dim=1, keepdim=True) / math.sqrt(assoc.shape[1])
    fine = upsample_association(merged, 4, 2)
    ref = slow_projection(store['logits'], fine, 8)
    torch.testing.assert_close(logits.double(), ref, rtol=1e-5, atol=1e-5)


def test_bilinear_ablation_ignores_association():
    head = make_head(upsample_mode='bilinear').eval()
    store = capture_superpixel_logits(head)
    feats = pyramid(1, 48, 64, MIT_CHANNELS)  # 12x16 map, 3x4 grid
    with torch.no_grad():
        logits = head(feats)
    ref = F.interpolate(store['logits'], size=(12, 16), mode='bilinear', align_corners=False)
    torch.testing.assert_close(logits, ref)


def test_projection_differs_from_bilinear():
    """Guard against the association projection silently degenerating to a fixed kernel."""
    assoc_head = make_head().eval()
    bil_head = make_head(upsample_mode='bilinear').eval()
    bil_head.load_state_dict(assoc_head.state_dict())
    feats = pyramid(1, 48, 64, MIT_CHANNELS)
    with torch.no_grad():
        assert not torch.allclose(assoc_head(feats), bil_head(feats), atol=1e-4)


def test_loss_predict_and_gradients_reach_every_parameter():
    head = make_head(update_pixels=True, num_iterations=3)
    head.train()
    feats = [f.requires_grad_() for f in pyramid(2, 64, 96, MIT_CHANNELS)]
    samples = []
    for _ in range(2):
        s = SegDataSample()
        label = torch.randint(0, 5, (1, 64, 96))
        label[:, :5] = 255
        s.gt_sem_seg = PixelData(data=label)
        s.set_metainfo(dict(img_shape=(64, 96), pad_shape=(64, 96), ori_shape=(64, 96)))
        samples.append(s)
    losses = head.loss(feats, samples, train_cfg=dict())
    assert set(losses) == {'loss_ce', 'acc_seg'}
    assert torch.isfinite(losses['loss_ce'])
    losses['loss_ce'].backward()
    missing = [n for n, p in head.named_parameters() if p.requires_grad and
               (p.grad is None or not torch.any(p.grad != 0))]
    assert not missing, f'no gradient reached {missing}'
    assert head.superpixel_queries.grad.abs().sum() > 0
    assert all(f.grad is not None for f in feats)
    head.eval()
    metas = [dict(img_shape=(64, 96), pad_shape=(64, 96), ori_shape=(64, 96))] * 2
    with torch.no_grad():
        seg = head.predict(feats, metas, test_cfg=dict())
    assert seg.shape == (2, 5, 64, 96)


def test_last_iteration_does_not_update_pixels():
    head = make_head(update_pixels=True, num_iterations=3)
    assert [layer.update_pixels for layer in head.tokenizer] == [True, True, False]
    assert not any(layer.update_pixels for layer in make_head().tokenizer)


@pytest.mark.parametrize('kwargs', [
    dict(num_layers=0),
    dict(num_iterations=1),
    dict(cell_size=2, query_grid=(5, 5)),
    dict(association_heads=1),
    dict(pixel_level=1),
    dict(pixel_channels=16),
])
def test_ablation_switches(kwargs):
    head = make_head(**kwargs)
    feats = pyramid(1, 64, 96, MIT_CHANNELS)
    logits, assoc = head.forward_with_association(feats)
    level = kwargs.get('pixel_level', 0)
    assert logits.shape[-2:] == feats[level].shape[-2:]
    assert assoc.shape[1] == kwargs.get('association_heads', 2)
    if kwargs.get('num_layers') == 0:
        assert len(head.transformer) == 0


def test_single_level_input():
    head = make_head(in_channels=16, in_index=1, pixel_level=0)
    feats = pyramid(1, 64, 64, MIT_CHANNELS)
    assert head(feats).shape == (1, 5, 8, 8)


def test_queries_are_interpolated_for_other_grids():
    head = make_head()
    q = head.init_superpixels(2, 3, 4)
    assert q.shape == (2, 32, 3, 4) and torch.equal(q[0], head.superpixel_queries[0])
    q = head.init_superpixels(1, 6, 8)
    assert q.shape == (1, 32, 6, 8)
    ref = F.interpolate(head.superpixel_queries, size=(6, 8), mode='bilinear')
    torch.testing.assert_close(q, ref)
    assert SPTransformerHead.no_decay_keys == ('superpixel_queries', )


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=[8, 16], in_index=0), 'in_index must be a sequence'),
    (dict(in_channels=[8, 16], in_index=[0, 1, 2]), 'same length'),
    (dict(in_channels=16, in_index=[0]), 'in_index must be an int'),
    (dict(in_channels=[8, 16], in_index=[0, 0]), 'repeats'),
    (dict(pixel_level=4), 'pixel_level'),
    (dict(input_transform='resize_concat'), 'input_transform'),
    (dict(association_heads=3), 'association_heads'),
    (dict(pixel_channels=18, association_heads=4), 'association_heads'),
    (dict(pixel_channels=0), 'pixel_channels'),
    (dict(upsample_mode='nearest'), 'upsample_mode'),
    (dict(pixel_pos_embed='per_level'), 'pixel_pos_embed'),
    (dict(num_iterations=0), 'num_iterations'),
    (dict(cell_size=0), 'cell_size'),
    (dict(query_grid=(0, 3)), 'query_grid'),
])
def test_bad_configs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_head(**kwargs)


def test_runtime_input_errors():
    head = make_head()
    with pytest.raises(ValueError, match=r'level 1 should be \(B, 16, H, W\)'):
        head(pyramid(1, 32, 32, [8, 17, 24, 32]))
    with pytest.raises(ValueError, match='backbone gave only 3 maps'):
        head(pyramid(1, 32, 32, MIT_CHANNELS)[:3])
    with pytest.raises(ValueError, match='tuple/list'):
        head(torch.zeros(1, 8, 8, 8))


def test_queries_are_initialised_once():
    head = make_head()
    assert 0.005 < head.superpixel_queries.std() < 0.05  # trunc-normal, std 0.02
    before = head.superpixel_queries.detach().clone()
    head.init_weights()  # a second call (mmengine warns) must not re-draw the queries
    assert torch.equal(head.superpixel_queries, before)


@pytest.mark.parametrize('mode', ['shared', 'per_layer', 'none'])
def test_pixel_position_encoding_modes(mode):
    head = make_head(pixel_pos_embed=mode).eval()
    assert (head.pixel_pe is not None) == (mode == 'shared')
    assert all((layer.pixel_pe is not None) == (mode == 'per_layer') for layer in head.tokenizer)
    assert all(layer.superpixel_pe is not None for layer in head.tokenizer)
    feats = pyramid(2, 64, 96, MIT_CHANNELS)
    with torch.no_grad():
        ours, assoc = head.forward_with_association(feats)
        # the same head run layer by layer, each layer moving the pixels into cells itself
        x = head.fusion(head._select_levels(feats))
        if head.pixel_pe is not None:
            x = x + head.pixel_pe(x)
        z = head.init_superpixels(2, 4, 6)
        for layer in head.tokenizer:
            x, z, ref_assoc = layer(x, z)
    torch.testing.assert_close(assoc, ref_assoc)
    assert ours.shape == (2, 5, 16, 24)
