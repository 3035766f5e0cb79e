"""SPEncoderDecoder: pred_superpixels (size, padding/flip undone, contiguous ids), sources."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmsp  # noqa: F401
from mmsp.models.segmentors import SPEncoderDecoder
from mmsp.ops import resize_ids
from mmsp.ops import association_logits, association_to_superpixels, relabel_contiguous

NUM_CLASSES = 5


@MODELS.register_module(force=True)
class ToySuperpixelBackbone(BaseModule):
    """Tiny backbone that, like SPFormer, provides ``forward_association`` and ``cell_size``."""

    cell_size = 4
    pixel_stride = 4

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 16, 4, stride=4)
        self.down = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)

    def forward(self, x):
        px = self.stem(x)
        return px, self.down(px)

    def forward_association(self, x):
        px = self.stem(x)
        sp = F.avg_pool2d(px, self.cell_size, ceil_mode=True)
        return association_logits(px, sp, self.cell_size, num_heads=2)


def backbone_cfg():
    return dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8,
                norm_cfg=dict(type='BN'), out_indices=(0, 1, 2, 3))


def head_cfg(**kwargs):
    cfg = dict(type='SPTransformerHead', in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3],
               channels=16, cell_size=4, query_grid=(4, 6), num_iterations=2, num_layers=1,
               num_attn_heads=2, num_classes=NUM_CLASSES, norm_cfg=dict(type='BN'),
               dropout_ratio=0.0)
    cfg.update(kwargs)
    return cfg


def build(segmentor='SPEncoderDecoder', backbone=None, decode_head=None, test_cfg=None, **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type=segmentor, backbone=backbone or backbone_cfg(),
             decode_head=decode_head or head_cfg(),
             test_cfg=ConfigDict(test_cfg or dict(mode='whole')),
             **kwargs))
    model.init_weights()
    return model.eval()


def samples(batch, img_shape, ori_shape=None, **meta):
    out = []
    for _ in range(batch):
        s = SegDataSample()
        s.set_metainfo(dict(img_shape=img_shape, pad_shape=img_shape,
                            ori_shape=ori_shape or img_shape, **meta))
        out.append(s)
    return out


def assert_contiguous(ids):
    values = torch.unique(ids)
    assert torch.equal(values, torch.arange(values.numel())), values


def test_predict_adds_superpixels_at_original_size():
    model = build()
    inputs = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        results = model.predict(inputs, samples(2, (64, 96), ori_shape=(100, 150)))
    for r in results:
        sp = r.pred_superpixels.data
        assert sp.shape == (1, 100, 150) and sp.dtype == torch.int64
        assert r.pred_sem_seg.data.shape == (1, 100, 150)
        assert_contiguous(sp)
        assert int(sp.max()) + 1 > 4  # a 4x6 grid cannot collapse to a handful of ids
    assert model.superpixel_source == 'head' and model.superpixel_cell_size == 4


def test_whole_mode_logits_equal_encoder_decoder_and_superpixels_match_association():
    model = build()
    plain = build('EncoderDecoder')
    plain.load_state_dict(model.state_dict())
    inputs = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        ours = model.predict(inputs, samples(2, (64, 96)))
        ref = plain.predict(inputs, samples(2, (64, 96)))
        assoc = model.association(inputs)
    expected, _ = association_to_superpixels(assoc, 4, 4, out_size=(64, 96))
    for i in range(2):
        torch.testing.assert_close(ours[i].seg_logits.data, ref[i].seg_logits.data)
        assert torch.equal(ours[i].pred_sem_seg.data, ref[i].pred_sem_seg.data)
        assert torch.equal(ours[i].pred_superpixels.data[0], expected[i])
    assert 'pred_superpixels' not in ref[0]


@pytest.mark.parametrize('meta', [
    dict(padding_size=[0, 12, 0, 8], flip=True, flip_direction='horizontal'),
    dict(img_padding_size=[0, 12, 0, 8], padding_size=[0, 0, 0, 0], flip=True,
         flip_direction='vertical'),
    dict(padding_size=[3, 5, 2, 6], flip=False),
])
def test_padding_and_flip_are_undone_like_postprocess_result(meta):
    """Encode known ids as one-hot logits: mmseg's postprocess_result must agree with ours."""
    model = build()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 12, (2, 4, 6), generator=g)
    ids = resize_ids(ids, (32, 48))  # blocky ids at the 32x48 network-input size
    logits = F.one_hot(ids, 12).permute(0, 3, 1, 2).float()
    left, right, top, bottom = meta.get('img_padding_size', meta.get('padding_size'))
    ori = (32 - top - bottom, 48 - left - right)  # no rescale: bilinear resize is the identity
    data = samples(2, ori, ori_shape=ori, **meta)
    results = model.postprocess_result(logits, copy.deepcopy(data))
    model._attach_superpixels(results, ids, (32, 48), restore=True)
    for r in results:
        sp = r.pred_superpixels.data
        assert sp.shape == (1, *ori)
        assert_contiguous(sp)
        expected = relabel_contiguous(r.pred_sem_seg.data)[0]
        assert torch.equal(sp, expected)


def test_flip_changes_the_map():
    """The flip branch really flips (guards the test above against a no-op)."""
    model = build()
    ids = torch.arange(12).view(1, 3, 4).repeat_interleave(2, 1).repeat_interleave(2, 2)
    plain, flipped = samples(1, (6, 8)), samples(1, (6, 8), flip=True,
                                                 flip_direction='horizontal')
    model._attach_superpixels(plain, ids, (6, 8), restore=True)
    model._attach_superpixels(flipped, ids, (6, 8), restore=True)
    a, b = plain[0].pred_superpixels.data[0], flipped[0].pred_superpixels.data[0]
    assert torch.equal(a, ids[0]) and torch.equal(b, ids[0].flip(1))


def test_odd_input_size_and_no_data_samples():
    model = build()
    inputs = torch.randn(1, 3, 61, 83)
    with torch.no_grad():
        results = model.predict(inputs)
    sp = results[0].pred_superpixels.data
    assert sp.shape == (1, 61, 83)
    assert_contiguous(sp)


@MODELS.register_module(force=True)
class TiedAssociationBackbone(BaseModule):
    """Association logits that are all equal: ties go to the own cell, so the hard superpixels
    are the regular grid of ``cell_size * 4`` input pixels, starting at the top-left corner."""

    cell_size = 4

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 4, stride=4)

    def forward(self, x):
        return (self.stem(x), )

    def forward_association(self, x):
        rows, cols = -(-x.shape[2] // 4), -(-x.shape[3] // 4)  # ceil, like SPFormer's stem
        return torch.zeros(x.shape[0], 1, 9, rows, cols)


def test_odd_padded_input_crops_the_superpixel_map():
    """61x83 input (57x80 image + 4 bottom, 3 right padding): the association upsamples to
    64x84 and the 16-pixel grid must be cropped, never stretched, to the image."""
    fcn = dict(type='FCNHead', in_channels=8, in_index=0, channels=8, num_convs=1,
               concat_input=False, num_classes=NUM_CLASSES, norm_cfg=dict(type='BN'))
    model = build(backbone=dict(type='TiedAssociationBackbone'), decode_head=fcn)
    inputs = torch.randn(1, 3, 61, 83)
    data = samples(1, (57, 80), padding_size=[0, 3, 0, 4])
    with torch.no_grad():
        sp = model.predict(inputs, data)[0].pred_superpixels.data[0]
        at_input = model.superpixels(model.association(inputs), (61, 83))[0]
    rows, cols = torch.arange(61)[:, None] // 16, torch.arange(83)[None, :] // 16
    assert torch.equal(at_input, rows * 6 + cols)
    assert torch.equal(sp, rows[:57] * 5 + cols[:, :80])


@pytest.mark.parametrize('mode', ['whole', 'skip', 'error'])
def test_slide_inference(mode):
    test_cfg = dict(mode='slide', crop_size=(32, 48), stride=(24, 32))
    model = build(test_cfg=test_cfg, slide_superpixels=mode)
    inputs = torch.randn(1, 3, 64, 96)
    if mode == 'error':
        with pytest.raises(ValueError, match='whole-image inference'):
            model.predict(inputs, samples(1, (64, 96)))
        return
    plain = build('EncoderDecoder', test_cfg=test_cfg)
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        ours = model.predict(inputs, samples(1, (64, 96)))[0]
        ref = plain.predict(inputs, samples(1, (64, 96)))[0]
    torch.testing.assert_close(ours.seg_logits.data, ref.seg_logits.data)
    if mode == 'whole':
        assert ours.pred_superpixels.data.shape == (1, 64, 96)
    else:
        assert 'pred_superpixels' not in ours


def test_backbone_as_superpixel_provider_with_stock_head():
    fcn = dict(type='FCNHead', in_channels=32, in_index=1, channels=16, num_convs=1,
               concat_input=False, num_classes=NUM_CLASSES, norm_cfg=dict(type='BN'))
    model = build(backbone=dict(type='ToySuperpixelBackbone'), decode_head=fcn)
    assert model.superpixel_source == 'backbone' and model.superpixel_cell_size == 4
    inputs = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        results = model.predict(inputs, samples(2, (64, 96)))
        expected, _ = association_to_superpixels(model.backbone.forward_association(inputs), 4, 4)
    for i, r in enumerate(results):
        assert torch.equal(r.pred_superpixels.data[0], expected[i])


def test_source_selection_errors():
    fcn = dict(type='FCNHead', in_channels=64, in_index=3, channels=16, num_convs=1,
               num_classes=NUM_CLASSES, norm_cfg=dict(type='BN'))
    with pytest.raises(ValueError, match='neither the decode head'):
        build(decode_head=fcn)
    with pytest.raises(ValueError, match='superpixel_source="head"'):
        build(decode_head=fcn, superpixel_source='head')
    with pytest.raises(ValueError, match='superpixel_source="backbone"'):
        build(superpixel_source='backbone')
    with pytest.raises(ValueError, match='superpixel_source must be'):
        build(superpixel_source='neck')
    with pytest.raises(ValueError, match='slide_superpixels must be'):
        build(slide_superpixels='sometimes')
    # an explicit choice wins over 'auto'
    model = build(backbone=dict(type='ToySuperpixelBackbone'),
                  decode_head=head_cfg(in_channels=[16, 32], in_index=[0, 1]),
                  superpixel_source='backbone')
    assert model.superpixel_source == 'backbone'


def test_inconsistent_pixel_stride_raises():
    model = build()
    assoc = torch.zeros(1, 2, 9, 16, 16)
    with pytest.raises(ValueError, match='one pixel stride'):
        model.superpixels(assoc, (64, 128))


@pytest.mark.parametrize('segmentor', ['SPEncoderDecoder', 'EncoderDecoder'])
def test_training_loss(segmentor):
    model = build(segmentor).train()
    inputs = torch.randn(2, 3, 64, 96)
    data = samples(2, (64, 96))
    for s in data:
        s.gt_sem_seg = PixelData(data=torch.randint(0, NUM_CLASSES, (1, 64, 96)))
    losses = model.loss(inputs, data)
    assert torch.isfinite(losses['decode.loss_ce'])
    losses['decode.loss_ce'].backward()
    assert model.decode_head.superpixel_queries.grad is not None


def test_superpixel_cell_size_is_a_property():
    assert isinstance(SPEncoderDecoder.superpixel_cell_size, property)


def test_grid_source_gives_the_patch_baseline():
    fcn = dict(type='FCNHead', in_channels=64, in_index=3, channels=16, num_convs=1,
               num_classes=NUM_CLASSES, norm_cfg=dict(type='BN'))
    model = build(decode_head=fcn, superpixel_source='grid', grid_size=16)
    with torch.no_grad():
        results = model.predict(torch.randn(2, 3, 64, 96), samples(2, (64, 96)))
    rows = torch.arange(64).div(16, rounding_mode='floor')[:, None]
    cols = torch.arange(96).div(16, rounding_mode='floor')[None, :]
    for r in results:
        assert torch.equal(r.pred_superpixels.data[0], rows * 6 + cols)
    with pytest.raises(ValueError, match='grid_size'):
        build(decode_head=fcn, superpixel_source='grid', grid_size=0)


def test_spformer_backbone_shares_one_pass():
    fcn = dict(type='FCNHead', in_channels=192, in_index=0, channels=16, num_convs=1,
               concat_input=False, num_classes=NUM_CLASSES, norm_cfg=dict(type='BN'))
    model = build(backbone=dict(type='SPFormer', arch='tiny', img_size=64), decode_head=fcn)
    assert model.superpixel_source == 'backbone'
    inputs = torch.randn(1, 3, 64, 80)
    calls = []
    model.backbone.register_forward_pre_hook(lambda m, a: calls.append(1))
    with torch.no_grad():
        result = model.predict(inputs, samples(1, (64, 80)))[0]
        expected, _ = model.backbone.forward_superpixels(inputs)
    assert torch.equal(result.pred_superpixels.data[0], expected[0])
    assert not calls  # forward() was not called: logits and association share one pass
