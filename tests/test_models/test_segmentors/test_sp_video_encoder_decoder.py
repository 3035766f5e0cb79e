"""SPVideoEncoderDecoder on tiny clips: loss over labelled frames, per-frame predictions and
supervoxels, and the clip data preprocessor."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmsp.models.segmentors import frames_to_batch
from mmsp.ops.fast import fast_path

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 1), num_heads=2, sp_heads=2, sp_iter=1)


def _model(**backbone):
    backbone = dict(dict(unfold_outputs=True), **backbone)
    cfg = dict(
        type='SPVideoEncoderDecoder',
        data_preprocessor=dict(
            type='ClipSegDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            size_divisor=16,
            test_cfg=dict(size_divisor=16)),
        backbone=dict(
            type='SPFormer3D',
            arch=TINY,
            superpixel_stride=(2, 16, 16),
            img_size=(4, 32, 48),
            drop_path_rate=0.,
            **backbone),
        decode_head=dict(
            type='FCNHead',
            in_channels=16,
            channels=16,
            num_convs=0,
            concat_input=False,
            num_classes=3,
            dropout_ratio=0.,
            norm_cfg=None,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(),
        test_cfg=ConfigDict(mode='whole'))
    torch.manual_seed(0)
    with fast_path(False), DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


def _batch(n=2, t=3, h=32, w=48, seed=0, unlabelled_frame=None):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, t, h, w), generator=g, dtype=torch.uint8))
        labels = torch.randint(0, 3, (t, h, w), generator=g)
        if unlabelled_frame is not None:
            labels[unlabelled_frame] = 255
        sample = SegDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w), clip_len=t))
        sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_preprocessor_gives_normalised_ncthw_clips():
    model = _model()
    data = _batch(h=30, w=40)
    out = model.data_preprocessor(data, True)
    assert out['inputs'].shape == (2, 3, 3, 32, 48)  # padded to the size divisor
    raw = data['inputs'][0].float()
    expected = (raw[[2, 1, 0]] - torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1, 1)) / \
        torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1, 1)
    torch.testing.assert_close(out['inputs'][0, :, :, :30, :40], expected)
    assert out['data_samples'][0].gt_sem_seg.data.shape == (3, 32, 48)
    assert (out['data_samples'][0].gt_sem_seg.data[:, 30:] == 255).all()
    test = model.data_preprocessor(_batch(h=30, w=40), False)
    assert test['inputs'].shape == (2, 3, 3, 32, 48)
    assert list(test['data_samples'][0].img_padding_size) == [0, 8, 0, 2]


def test_loss_is_over_the_labelled_frames_only():
    model = _model()
    data = model.data_preprocessor(_batch(unlabelled_frame=1), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    loss = losses['decode.loss_ce']
    assert loss.isfinite() and loss > 0
    loss.backward()
    assert model.backbone.stages[0].sca[0].pixel_qkv.weight.grad.abs().sum() > 0
    # the same as the head's loss on the labelled frames (0 and 2 of each clip) alone
    model.zero_grad()
    feats = model.extract_feat(data['inputs'])
    frames = model.frame_samples(data['data_samples'], 3)
    keep = [0, 2, 3, 5]
    expected = model.decode_head.loss([f[keep] for f in feats], [frames[i] for i in keep],
                                      model.train_cfg)['loss_ce']
    torch.testing.assert_close(loss, expected)
    # with every frame labelled all frames count
    full = model.data_preprocessor(_batch(), True)
    assert model.loss(full['inputs'], full['data_samples'])['decode.loss_ce'].isfinite()


def test_predict_writes_per_frame_labels_and_clip_supervoxels():
    model = _model().eval()
    data = model.data_preprocessor(_batch(h=30, w=40), False)
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
        logits = model._forward(data['inputs'])
        ids, _ = model.backbone.forward_supervoxels(data['inputs'])
    assert len(results) == 2
    for i, sample in enumerate(results):
        assert sample.pred_sem_seg.data.shape == (3, 30, 40)
        sv = sample.pred_supervoxels.data
        assert sv.shape == (3, 30, 40) and sv.dtype == torch.int64
        assert sorted(torch.unique(sv).tolist()) == list(range(int(sv.max()) + 1))
        assert sample.gt_sem_seg.data.shape == (3, 30, 40)
        # the padded bottom/right is cropped: the backbone's supervoxels inside the image
        expected = ids[i, :, :30, :40]
        assert torch.equal(torch.unique(expected, return_inverse=True)[1], sv)
        # labels: the argmax of every frame's logits
        frame_logits = torch.nn.functional.interpolate(logits[3 * i:3 * i + 3], (32, 48),
                                                       mode='bilinear')[:, :, :30, :40]
        assert torch.equal(sample.pred_sem_seg.data, frame_logits.argmax(1))
    assert logits.shape[0] == 6  # frames folded into the batch


def test_flipped_clips_get_their_supervoxels_flipped_back():
    model = _model().eval()
    batch = _batch(n=1, h=32, w=48)
    plain = model.data_preprocessor(batch, False)
    flipped = model.data_preprocessor(_batch(n=1, h=32, w=48), False)
    flipped['inputs'] = plain['inputs'].flip(-1)
    flipped['data_samples'][0].set_metainfo(dict(flip=True, flip_direction='horizontal'))
    with torch.no_grad():
        a = model.predict(plain['inputs'], plain['data_samples'])[0]
        b = model.predict(flipped['inputs'], flipped['data_samples'])[0]
        ids, _ = model.backbone.forward_supervoxels(flipped['inputs'])
    assert torch.equal(b.pred_supervoxels.data,
                       torch.unique(ids[0].flip(-1), return_inverse=True)[1])
    assert a.pred_supervoxels.data.shape == b.pred_supervoxels.data.shape


def test_frames_to_batch_and_bad_inputs():
    x = torch.arange(2 * 3 * 4).view(2, 1, 3, 2, 2)  # (N, C, T, H, W) with frame-wise values
    y = frames_to_batch(x)
    assert y.shape == (6, 1, 2, 2) and torch.equal(y[4], x[1, :, 1])
    model = _model(unfold_outputs=False)
    with pytest.raises(ValueError, match='one map per frame'):
        model.extract_feat(torch.zeros(1, 3, 4, 32, 48))
    with pytest.raises(ValueError, match='whole-clip'):
        model.test_cfg['mode'] = 'slide'
        model.predict(torch.zeros(1, 3, 4, 32, 48))
