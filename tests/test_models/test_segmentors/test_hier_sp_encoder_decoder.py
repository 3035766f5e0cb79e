"""HierSPEncoderDecoder: both levels, superpixels and groups in every prediction."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmsp  # noqa: F401
from mmsp.models import HierSPEncoderDecoder
from mmsp.ops import compose_group_association, relabel_contiguous

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 3), num_heads=2, sp_heads=2, sp_iter=1)
LUT = (2, 0, 1, 1, 0, 255)


def build(head='HierSPHead', test_cfg=None, **kwargs):
    torch.manual_seed(0)
    backbone = dict(type='SPFormer', arch=TINY, img_size=(64, 96), out_indices=(3, ),
                    out_pixels=True, drop_path_rate=0.)
    decode_head = dict(type=head, in_channels=(8, 16), channels=16, num_classes=5,
                       dropout_ratio=0.0, layer_scale_init=0.5)
    if head == 'HierSPHead':
        backbone.update(group_cfg=dict(after_blocks=(2, 3), pool_ratio=2), out_groups=True)
        decode_head.update(num_coarse_classes=3)
    model = MODELS.build(
        dict(type='HierSPEncoderDecoder', backbone=backbone, decode_head=decode_head,
             test_cfg=test_cfg or dict(mode='whole'), fine_to_coarse=LUT, **kwargs))
    model.init_weights()
    with torch.no_grad():  # give the GCA ungrouping a visible effect
        for name, p in model.named_parameters():
            if 'gamma' in name:
                p.fill_(0.5)
    return model.eval()


def samples(batch, shape, ori, flip=False):
    return [
        SegDataSample(metainfo=dict(img_shape=shape, pad_shape=shape, ori_shape=ori, flip=flip,
                                    flip_direction='horizontal')) for _ in range(batch)
    ]


def same_partition(a, b):
    """The id maps split the pixels alike (equal up to a relabelling)."""
    pairs = torch.unique(torch.stack([a.flatten(), b.flatten()]), dim=1)
    return pairs.shape[1] == len(torch.unique(a)) == len(torch.unique(b))


def test_predict_fields_and_groups():
    model = build()
    img = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        results = model.predict(img, samples(2, (64, 96), (64, 96)))
        feats = model.extract_feat(img)
        levels = model.decode_head.forward_levels(feats)
    for field, channels in (('seg_logits', 5), ('pred_sem_seg', 1), ('coarse_seg_logits', 3),
                            ('pred_coarse_sem_seg', 1), ('pred_superpixels', 1),
                            ('pred_groups', 1), ('pred_coarse_from_fine', 1)):
        assert results[0].get(field).data.shape == (channels, 64, 96), field
    coarse = torch.nn.functional.interpolate(levels.coarse_logits, size=(64, 96),
                                             mode='bilinear', align_corners=False)
    for i, res in enumerate(results):
        assert torch.equal(res.pred_coarse_sem_seg.data[0], coarse[i].argmax(0))
        lut = torch.tensor(LUT[:5])
        assert torch.equal(res.pred_coarse_from_fine.data, lut[res.pred_sem_seg.data])
    # hard groups: argmax of the composed association at the input resolution (stride 4)
    probs = compose_group_association(levels.coarse_association, levels.group_weights, 4, 4)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 64, 96))
    expected = relabel_contiguous(probs.argmax(1))[0]
    for i, res in enumerate(results):
        assert torch.equal(res.pred_groups.data[0], expected[i])
        assert res.pred_groups.data.max() < levels.group_weights.shape[-1]
    # tensor mode: both levels' logits at the pixel-map resolution
    fine, coarse_t = model(img, mode='tensor')
    assert fine.shape == (2, 5, 16, 24) and coarse_t.shape == (2, 3, 16, 24)


def test_groups_come_from_the_coarse_association():
    """pred_groups composes the coarse branch's association, not the fine one: with a fine
    association that sends every pixel to its top-left candidate, the two differ."""
    model = build()
    head = model.decode_head
    forward_levels = head.forward_levels
    captured = {}

    def skewed_levels(inputs):
        levels = forward_levels(inputs)
        fine = torch.where(torch.isfinite(levels.fine_association),
                           torch.zeros_like(levels.fine_association),
                           levels.fine_association)
        fine[:, :, 0] = torch.where(torch.isfinite(fine[:, :, 0]), 30.0, fine[:, :, 0])
        levels = levels._replace(fine_association=fine)
        captured['levels'] = levels
        return levels

    head.forward_levels = skewed_levels
    img = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        res = model.predict(img, samples(1, (64, 96), (64, 96)))[0]
    levels = captured['levels']
    from_coarse = compose_group_association(levels.coarse_association, levels.group_weights, 4,
                                            4).argmax(1)
    from_fine = compose_group_association(levels.fine_association, levels.group_weights, 4,
                                          4).argmax(1)
    assert not same_partition(from_coarse[0], from_fine[0])  # the check can tell them apart
    assert same_partition(res.pred_groups.data[0], from_coarse[0])


def test_flip_and_resize_are_undone_for_every_map():
    model = build()
    img = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        plain = model.predict(img, samples(1, (64, 96), (64, 96)))[0]
        flipped = model.predict(img, samples(1, (64, 96), (64, 96), flip=True))[0]
        small = model.predict(img, samples(1, (64, 96), (32, 48)))[0]
    for field in ('pred_sem_seg', 'pred_coarse_sem_seg', 'pred_superpixels', 'pred_groups'):
        a, b = plain.get(field).data[0], flipped.get(field).data[0]
        assert same_partition(a, b.flip(-1)), field
        assert small.get(field).data.shape == (1, 32, 48), field


def test_slide_inference_stitches_both_levels():
    whole = build()
    slide = build(test_cfg=ConfigDict(mode='slide', crop_size=(64, 96), stride=(32, 48)))
    slide.load_state_dict(whole.state_dict())
    img = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        a = whole.predict(img, samples(1, (64, 96), (64, 96)))[0]
        b = slide.predict(img, samples(1, (64, 96), (64, 96)))[0]
    for field in ('seg_logits', 'coarse_seg_logits'):
        torch.testing.assert_close(a.get(field).data, b.get(field).data)
    assert torch.equal(a.pred_groups.data, b.pred_groups.data)
    assert slide.out_channels == 8 and slide.fine_channels == 5


def test_training_losses():
    model = build().train()
    img = torch.randn(2, 3, 64, 96)
    data = samples(2, (64, 96), (64, 96))
    for s in data:
        s.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 64, 96)))
        s.gt_coarse_sem_seg = PixelData(data=torch.randint(0, 3, (1, 64, 96)))
    losses = model.loss(img, data)
    assert {'decode.loss_fine', 'decode.loss_coarse'} <= set(losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    gca = model.backbone.stages[1].gca['1']
    assert torch.count_nonzero(gca.grouping.q.weight.grad) > 0


def test_flat_head_predicts_the_lut_of_the_fine_level():
    model = build(head='SPLinearHead')
    assert not model.with_groups and model.out_channels == 5
    with torch.no_grad():
        res = model.predict(torch.randn(1, 3, 64, 96), samples(1, (64, 96), (64, 96)))[0]
    assert 'pred_groups' not in res and 'pred_coarse_sem_seg' not in res
    lut = torch.tensor(LUT[:5])
    assert torch.equal(res.pred_coarse_from_fine.data, lut[res.pred_sem_seg.data])
    assert res.pred_superpixels.data.shape == (1, 64, 96)
    with pytest.raises(ValueError, match='fine_to_coarse must give'):
        HierSPEncoderDecoder(
            backbone=dict(type='SPFormer', arch=TINY, out_pixels=True),
            decode_head=dict(type='SPLinearHead', in_channels=(8, 16), channels=16,
                             num_classes=5),
            fine_to_coarse=(0, 1))
