"""Patch grid, SLIC and the zero-shot SuperpixelPredictor as registered superpixel models."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmsp.models.superpixel_predictors import (PatchGridSuperpixels, SLICSuperpixels,
                                               SuperpixelPredictor, grid_shape, grid_superpixels,
                                               inputs_to_rgb_uint8)
from mmsp.ops import association_logits

init_default_scope('mmseg')


def batch(img: np.ndarray, **meta):
    """One raw uint8 (H, W, 3) BGR image as the test pipeline packs it."""
    h, w = img.shape[:2]
    ds = SegDataSample(metainfo=dict(dict(ori_shape=(h, w), img_shape=(h, w)), **meta))
    return dict(inputs=[torch.from_numpy(img.transpose(2, 0, 1).copy())], data_samples=[ds])


def ids_of(model, data):
    out = model.test_step(data)
    return out[0].pred_superpixels.data


def test_grid_shapes_match_reference_counts():
    assert grid_shape(321, 481, 200) == (12, 17)  # 204 cells
    assert grid_shape(321, 481, 1000) == (26, 39)  # 1014 cells
    assert grid_shape(224, 224, 196) == (14, 14)
    assert grid_shape(3, 1000, 400) == (1, 365)
    assert grid_shape(3, 4, 400) == (3, 4)  # clamped to the image


def test_grid_superpixels_by_hand():
    np.testing.assert_array_equal(
        grid_superpixels(4, 5, stride=2),
        [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [3, 3, 4, 4, 5], [3, 3, 4, 4, 5]])
    np.testing.assert_array_equal(
        grid_superpixels(3, 4, grid_size=(2, 2)), [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]])
    with pytest.raises(ValueError, match='exactly one'):
        grid_superpixels(3, 4)
    with pytest.raises(ValueError, match='grid_size'):
        grid_superpixels(3, 4, grid_size=(4, 1))


@pytest.mark.parametrize('kwargs,count', [(dict(grid_size=(14, 14)), 196),
                                          (dict(num_superpixels=200), 204),
                                          (dict(stride=40), 9 * 13)])
def test_patch_grid_model_counts(kwargs, count):
    model = MODELS.build(dict(type='PatchGridSuperpixels', **kwargs))
    img = np.zeros((321, 481, 3), np.uint8)
    ids = ids_of(model, batch(img))
    assert ids.shape == (1, 321, 481) and ids.dtype == torch.int64
    assert len(torch.unique(ids)) == count == int(ids.max()) + 1


def test_patch_grid_is_computed_at_original_size_after_resize():
    model = PatchGridSuperpixels(grid_size=(14, 14))
    img = np.zeros((224, 224, 3), np.uint8)
    ids = ids_of(model, batch(img, ori_shape=(500, 375), img_shape=(224, 224)))
    assert ids.shape == (1, 500, 375)
    np.testing.assert_array_equal(ids[0].numpy(), grid_superpixels(500, 375, (14, 14)).numpy())


def test_patch_grid_bad_config():
    with pytest.raises(ValueError, match='exactly one'):
        PatchGridSuperpixels(grid_size=(2, 2), stride=3)
    with pytest.raises(ValueError, match='exactly one'):
        PatchGridSuperpixels()
    with pytest.raises(ValueError, match='grid_size'):
        PatchGridSuperpixels(grid_size=(0, 3))
    with pytest.raises(NotImplementedError, match='nothing to train'):
        PatchGridSuperpixels(stride=4)(torch.zeros(1, 3, 8, 8), mode='loss')


def test_slic_equals_scikit_image_on_the_raw_image():
    from skimage.data import astronaut
    from skimage.segmentation import slic
    rgb = astronaut()[::4, ::4].copy()  # 128x128
    model = MODELS.build(dict(type='SLICSuperpixels', num_superpixels=100))
    ids = ids_of(model, batch(rgb[..., ::-1].copy()))  # pipeline images are BGR
    expected = slic(rgb, n_segments=100, compactness=10, start_label=0, channel_axis=-1)
    np.testing.assert_array_equal(ids[0].numpy(), expected)


def test_slic_undoes_normalisation_and_resizes_to_original():
    from skimage.data import astronaut
    rgb = astronaut()[::8, ::8].copy()  # 64x64 input, "original" 128x96
    norm = dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True)
    model = SLICSuperpixels(num_superpixels=30, data_preprocessor=norm)
    data = batch(rgb[..., ::-1].copy(), ori_shape=(128, 96), img_shape=(64, 64))
    inputs = model.data_preprocessor(data)['inputs']
    np.testing.assert_array_equal(inputs_to_rgb_uint8(inputs[0], model.data_preprocessor), rgb)
    ids = ids_of(model, data)
    assert ids.shape == (1, 128, 96)
    assert 10 <= len(torch.unique(ids)) <= 60


class FeatureAssociation(torch.nn.Module):
    """A tiny association provider: pixel features = (projected) colours at stride 4, 4x4 cells.

    Superpixel features are cell averages, so the association is the standard one of
    ``mmsp.ops.association_logits``; it tests the wrapper, not a model.
    """
    pixel_stride = 4
    cell_size = 4

    def __init__(self, project: bool = True):
        super().__init__()
        self.proj = torch.nn.Conv2d(3, 8, 1) if project else torch.nn.Identity()
        self.heads = 2 if project else 1

    def forward_association(self, img):
        x = self.proj(torch.nn.functional.avg_pool2d(img, 4))
        z = torch.nn.functional.avg_pool2d(x, 4, ceil_mode=True)
        return association_logits(x, z, stride=4, num_heads=self.heads)


def test_superpixel_predictor_on_a_piecewise_constant_image():
    # unit-scale features (logits ~0.6): exact ties between equal cells go to the own cell
    norm = dict(type='SegDataPreProcessor', mean=[0, 0, 0], std=[200, 200, 200])
    model = SuperpixelPredictor(
        FeatureAssociation(project=False), return_association=True, data_preprocessor=norm)
    # two flat halves with orthogonal colours; the border (x = 32) is a cell border (16 px cells)
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :32, 0] = 200
    img[:, 32:, 2] = 200
    data = batch(img, ori_shape=(128, 128), img_shape=(64, 64))
    out = model.test_step(data)[0]
    ids = out.pred_superpixels.data
    assert ids.shape == (1, 128, 128)
    assert int(ids.max()) + 1 == len(torch.unique(ids)) == 16  # flat regions keep their cells
    # no superpixel crosses the colour border
    left = ids[0, :, :64].unique()
    right = ids[0, :, 64:].unique()
    assert not set(left.tolist()) & set(right.tolist())
    assert out.pred_association.data.shape == (9, 16, 16)
    assert out.metainfo['association_cell_size'] == 4
    assert out.metainfo['association_pixel_stride'] == 4


def test_superpixel_predictor_matches_hard_assignment_of_the_ops():
    from mmsp.ops import association_to_superpixels
    torch.manual_seed(1)
    provider = FeatureAssociation()
    model = SuperpixelPredictor(provider)
    img = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    data = batch(img)
    ids = ids_of(model, data)[0]
    inputs = model.data_preprocessor(data)['inputs']
    expected, _ = association_to_superpixels(provider.forward_association(inputs), 4, 4, (48, 64))
    np.testing.assert_array_equal(ids.numpy(), expected[0].numpy())


def test_superpixel_predictor_with_spformer_backbone():
    arch = dict(pixel_dims=16, embed_dims=32, depths=(1, 1), num_heads=2, sp_heads=2, sp_iter=1)
    model = MODELS.build(
        dict(
            type='SuperpixelPredictor',
            backbone=dict(type='SPFormer', arch=arch, img_size=64, drop_path_rate=0.)))
    assert (model.pixel_stride, model.cell_size) == (4, 4)
    img = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    ids = ids_of(model.eval(), batch(img, ori_shape=(100, 80), img_shape=(64, 64)))
    assert ids.shape == (1, 100, 80)
    assert 1 <= len(torch.unique(ids)) <= 16  # a 4x4 superpixel grid at 64x64


def test_superpixel_predictor_bad_provider():
    with pytest.raises(ValueError, match='forward_association'):
        SuperpixelPredictor(torch.nn.Conv2d(3, 3, 1))

    class NoCell(FeatureAssociation):
        cell_size = None

    with pytest.raises(ValueError, match='cell_size'):
        SuperpixelPredictor(NoCell())

    class Wrong(FeatureAssociation):

        def forward_association(self, img):
            return torch.zeros(img.shape[0], 2, 4, 4, 4)

    with pytest.raises(ValueError, match=r'\(B, M, 9, H, W\)'):
        SuperpixelPredictor(Wrong()).test_step(batch(np.zeros((16, 16, 3), np.uint8)))


def test_test_time_padding_is_removed():
    from skimage.data import astronaut
    rgb = astronaut()[::8, ::8][:50, :40].copy()
    plain = SLICSuperpixels(num_superpixels=20)
    padded = SLICSuperpixels(
        num_superpixels=20,
        data_preprocessor=dict(
            type='SegDataPreProcessor', bgr_to_rgb=True,
            test_cfg=dict(size_divisor=32)))  # pads 50x40 to 64x64
    data = batch(rgb[..., ::-1].copy())
    assert tuple(padded.data_preprocessor(data)['inputs'].shape[2:]) == (64, 64)
    np.testing.assert_array_equal(ids_of(padded, batch(rgb[..., ::-1].copy())), ids_of(plain, data))
