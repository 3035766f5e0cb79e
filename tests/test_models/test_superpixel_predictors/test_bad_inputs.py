"""Inputs that cannot give meaningful superpixels are refused with the image named (NaN pixels,
an empty batch); tiny odd inputs give a correct map. SuperpixelPredictor and SPEncoderDecoder."""
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmsp  # noqa: F401

init_default_scope('mmseg')
ARCH = dict(pixel_dims=16, embed_dims=32, depths=(1, 1), num_heads=2, sp_heads=2, sp_iter=1)


def predictor():
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='SuperpixelPredictor',
             backbone=dict(type='SPFormer', arch=ARCH, img_size=64, drop_path_rate=0.))).eval()


def segmentor():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='SPEncoderDecoder',
             backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8,
                           norm_cfg=dict(type='BN'), out_indices=(0, 1, 2, 3)),
             decode_head=dict(type='SPTransformerHead', in_channels=[8, 16, 32, 64],
                              in_index=[0, 1, 2, 3], channels=16, cell_size=4,
                              query_grid=(4, 6), num_iterations=1, num_layers=1,
                              num_attn_heads=2, num_classes=3, norm_cfg=dict(type='BN'),
                              dropout_ratio=0.0),
             test_cfg=ConfigDict(mode='whole')))
    model.init_weights()
    return model.eval()


def samples(n, size, paths=None):
    return [
        SegDataSample(metainfo=dict(img_shape=size, pad_shape=size, ori_shape=size,
                                    img_path=(paths or [f'img{i}.png' for i in range(n)])[i]))
        for i in range(n)
    ]


@pytest.mark.parametrize('build', [predictor, segmentor])
def test_nan_pixel_is_refused_naming_the_image(build):
    inputs = torch.randn(2, 3, 32, 32)
    inputs[1, 0, 5, 7] = float('nan')
    with pytest.raises(ValueError, match=r'non-finite \(NaN/inf\) input values in data/b\.png'):
        with torch.no_grad():
            build().predict(inputs, samples(2, (32, 32), ['data/a.png', 'data/b.png']))
    inputs[1, 0, 5, 7] = float('inf')
    with pytest.raises(ValueError, match=r'non-finite .* in image 1 of the batch'):
        with torch.no_grad():
            build().predict(inputs)


@pytest.mark.parametrize('build', [predictor, segmentor])
def test_empty_batch_is_refused(build):
    with pytest.raises(ValueError, match=r'empty batch of inputs \(0, 3, 32, 32\)'):
        with torch.no_grad():
            build().predict(torch.zeros(0, 3, 32, 32), [])


def test_tiny_odd_input_gives_one_superpixel_at_its_size():
    """7x5 pixels at SPFormer's stride 4 are a 2x2 association inside one 4x4 superpixel cell:
    the whole image is one superpixel."""
    img = (np.random.default_rng(0).random((7, 5, 3)) * 255).astype(np.uint8)
    data = dict(inputs=[torch.from_numpy(img.transpose(2, 0, 1).copy())],
                data_samples=[SegDataSample(metainfo=dict(ori_shape=(7, 5), img_shape=(7, 5)))])
    ids = predictor().test_step(data)[0].pred_superpixels.data
    assert ids.shape == (1, 7, 5) and torch.equal(ids, torch.zeros_like(ids))


def test_segmentor_superpixels_of_a_tiny_odd_input():
    """The association of a 7x5 input at pixel stride 4 (2x2, ratios 3.5 and 2.5) gives a 7x5
    map of the 2x2 grid cells' superpixels (cell size 1 here: each association pixel its own)."""
    model = segmentor()
    model.decode_head.cell_size = 1
    assoc = torch.full((1, 2, 9, 2, 2), -10.0)
    assoc[:, :, 4] = 10.0  # every pixel takes its own cell
    ids = model.superpixels(assoc, (7, 5))
    assert ids.shape == (1, 7, 5)
    rows, cols = torch.meshgrid(torch.arange(7), torch.arange(5), indexing='ij')
    expected = (rows >= 4).long() * 2 + (cols >= 4).long()  # 4 + 3 rows, 4 + 1 columns
    assert torch.equal(ids[0], expected)
