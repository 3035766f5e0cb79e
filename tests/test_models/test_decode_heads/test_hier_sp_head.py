"""SPLinearHead and HierSPHead: both levels against explicit computations, losses, checks."""
import math

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmsp.models.decode_heads import HierSPHead, SPLinearHead
from mmsp.ops import association_logits


def _unfold_loop(assoc, values, stride):
    """sum_n softmax_n(merged A)_n V_{c_n(p)} by explicit loops (heads merged sum / sqrt(M))."""
    b, m, _, height, width = assoc.shape
    rows, cols = values.shape[-2:]
    probs = torch.softmax(assoc.sum(1) / math.sqrt(m), 1)
    out = torch.zeros(b, values.shape[1], height, width, dtype=values.dtype)
    for y in range(height):
        for x in range(width):
            for n in range(9):
                ny, nx = y // stride + n // 3 - 1, x // stride + n % 3 - 1
                if 0 <= ny < rows and 0 <= nx < cols:
                    out[:, :, y, x] += probs[:, n, y, x, None] * values[:, :, ny, nx]
    return out


def inputs(batch=2, height=12, width=16, layers=2, groups=3, seed=0):
    """(pixels, superpixels, group tokens, group weights) as SPFormer(out_groups=True) gives."""
    g = torch.Generator().manual_seed(seed)
    rows, cols = -(-height // 4), -(-width // 4)
    weights = torch.softmax(torch.randn(batch, layers, 2, rows * cols, groups, generator=g), -1)
    return (torch.randn(batch, 8, height, width, generator=g),
            torch.randn(batch, 16, rows, cols, generator=g),
            torch.randn(batch, layers, groups, 16, generator=g), weights)


def build(cls=HierSPHead, **kwargs):
    torch.manual_seed(0)
    args = dict(in_channels=(8, 16), channels=16, num_classes=5, dropout_ratio=0.0,
                layer_scale_init=0.5)
    if cls is HierSPHead:
        args['num_coarse_classes'] = 3
    args.update(kwargs)
    head = cls(**args).double()
    head.init_weights()
    return head


def test_linear_head_projects_its_superpixel_logits():
    head = build(SPLinearHead)
    x, z = (t.double() for t in inputs()[:2])
    logits, assoc = head.forward_with_association((x, z))
    # the association is the SCA layer's; the logits those of LN2d(Z') projected through it
    _, z_new, expected_assoc = head.sca(x, z)
    torch.testing.assert_close(assoc, expected_assoc)
    sp_logits = head.conv_seg(head.cls_norm(z_new))
    torch.testing.assert_close(logits, _unfold_loop(assoc, sp_logits, 4))
    assert logits.shape == (2, 5, 12, 16)
    # the association is local: logits toward the real candidates only
    pixel_keys = torch.randn(2, 8, 12, 16, dtype=torch.double)
    assert association_logits(pixel_keys, z[:, :8], 4, 2).shape == assoc.shape


def test_hier_head_levels():
    head = build()
    feats = tuple(t.double() for t in inputs())
    x, z, tokens, weights = feats
    levels = head.forward_levels(feats)
    fine, _ = head.forward_with_association(feats)
    torch.testing.assert_close(levels.fine_logits, fine)
    # groups -> superpixels: F_j = sum_l concat_m sum_g b_l[m, j, g] Q2_l[g]_m
    expected = torch.zeros(2, 12, 16, dtype=torch.double)
    for b in range(2):
        for layer in range(2):
            for m in range(2):
                for j in range(12):
                    expected[b, j, 8 * m:8 * m + 8] += (weights[b, layer, m, j, :, None] *
                                                        tokens[b, layer, :, 8 * m:8 * m + 8]).sum(0)
    feat_map = head.groups_to_superpixels(tokens, weights, (3, 4))
    torch.testing.assert_close(feat_map, expected.transpose(1, 2).reshape(2, 16, 3, 4))
    _, f_new, coarse_assoc = head.coarse_sca(x, feat_map)
    torch.testing.assert_close(levels.coarse_association, coarse_assoc)
    coarse = _unfold_loop(coarse_assoc, head.conv_seg_coarse(head.coarse_norm(f_new)), 4)
    torch.testing.assert_close(levels.coarse_logits, coarse)
    torch.testing.assert_close(levels.group_weights, weights[:, -1])
    assert build(group_layer=0).forward_levels(feats).group_weights.equal(weights[:, 0])
    # predict stacks both levels, resized to the image
    metas = [dict(img_shape=(48, 64), pad_shape=(48, 64))] * 2
    stacked = head.predict(feats, metas)
    assert stacked.shape == (2, 8, 48, 64)


def _samples(batch=2, size=(12, 16), coarse=True):
    out = []
    for i in range(batch):
        s = SegDataSample(metainfo=dict(img_shape=size, pad_shape=size))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, *size)))
        if coarse:
            s.gt_coarse_sem_seg = PixelData(data=torch.randint(0, 3, (1, *size)))
        out.append(s)
    return out


def test_losses_and_the_coarse_weight():
    feats = tuple(t.double() for t in inputs())
    samples = _samples()
    head = build()
    losses = head.loss(feats, samples, None)
    assert set(losses) == {'loss_fine', 'acc_seg', 'loss_coarse', 'acc_coarse'}
    fine, coarse = head(feats)
    label = samples[0].gt_coarse_sem_seg.data
    expected = torch.nn.functional.cross_entropy(
        coarse, torch.stack([s.gt_coarse_sem_seg.data[0] for s in samples]), ignore_index=255)
    torch.testing.assert_close(losses['loss_coarse'], expected)
    assert label.shape == (1, 12, 16)
    # coarse weight 0 (run C): no gradient reaches the coarse classifier
    head0 = build(loss_coarse=dict(type='CrossEntropyLoss', loss_weight=0.0,
                                   loss_name='loss_coarse'))
    losses = head0.loss(feats, samples, None)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert head0.conv_seg_coarse.weight.grad is None or \
        torch.count_nonzero(head0.conv_seg_coarse.weight.grad) == 0
    assert torch.count_nonzero(head0.conv_seg.weight.grad) > 0
    with pytest.raises(KeyError, match='gt_coarse_sem_seg'):
        head.loss(feats, _samples(coarse=False), None)


def test_errors():
    feats = inputs()
    with pytest.raises(ValueError, match='channels=12 must equal'):
        SPLinearHead(in_channels=(8, 16), channels=12, num_classes=5)
    with pytest.raises(ValueError, match=r'\(pixels, superpixels\) pairs'):
        SPLinearHead(in_channels=16, channels=16, num_classes=5)
    with pytest.raises(ValueError, match='input_transform is fixed'):
        SPLinearHead(in_channels=(8, 16), channels=16, num_classes=5, input_transform=None)
    with pytest.raises(ValueError, match='num_coarse_classes'):
        HierSPHead(in_channels=(8, 16), channels=16, num_classes=5, num_coarse_classes=1)
    head = HierSPHead(in_channels=(8, 16), channels=16, num_classes=5, num_coarse_classes=3)
    with pytest.raises(ValueError, match='end with the group tokens'):
        head.forward_levels(feats[:2])
    with pytest.raises(ValueError, match='superpixels in the group associations'):
        head.forward_levels(inputs(height=16)[:2] + feats[2:])
    with pytest.raises(ValueError, match='group_layer=5'):
        HierSPHead(in_channels=(8, 16), channels=16, num_classes=5, num_coarse_classes=3,
                   group_layer=5).forward_levels(feats)
