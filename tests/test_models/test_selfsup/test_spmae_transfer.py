"""An SP-MAE checkpoint drives the existing configs unchanged: the CIFAR-10 fine-tuning
classifier (``init_cfg=Pretrained``, ``prefix='backbone.'``) and the zero-shot superpixel
predictor (``load_from``, non-strict like the Runner); tiny models, no data needed."""
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import load_checkpoint
from mmpretrain.structures import DataSample
from mmseg.structures import SegDataSample

from mmsp.utils import build_model_from_config

CONFIGS = Path(__file__).resolve().parents[3] / 'configs' / 'spmae'
TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 2), num_heads=2, sp_heads=2, sp_iter=2)


def tiny_cfg(name: str, **model) -> Config:
    """The config ``configs/spmae/<name>`` with the tiny SPFormer and the given model keys."""
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.merge_from_dict(dict(model=model))
    cfg.model.backbone.arch = TINY
    return cfg


def spmae_checkpoint(tmp_path: Path) -> Path:
    """A checkpoint of the M3 pre-training config (tiny), after one SP-MAE step."""
    cfg = tiny_cfg('spmae_spformer-t-s8_1xb32-200it_cifar10-64px.py',
                   neck=dict(embed_dims=16, decoder_embed_dims=16, decoder_depth=1,
                             decoder_num_heads=2),
                   head=dict(embed_dims=16))
    torch.manual_seed(0)
    model = build_model_from_config(cfg)
    model.init_weights()
    loss = model.loss(torch.randn(2, 3, 64, 64), [])['loss']
    loss.backward()
    with torch.no_grad():  # move every weight off its initial value
        for p in model.parameters():
            if p.grad is not None:
                p.add_(p.grad.sign(), alpha=1e-2)
    path = tmp_path / 'spmae_tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def backbone_weights(path: Path) -> dict:
    state = torch.load(path, map_location='cpu')['state_dict']
    return {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}


def test_spmae_checkpoint_fine_tunes_with_the_classifier_config(tmp_path):
    path = spmae_checkpoint(tmp_path)
    weights = backbone_weights(path)
    cfg = tiny_cfg('spformer-t-s8_1xb64-30e_cifar10-64px.py', head=dict(in_channels=16))
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(path),
                                       prefix='backbone.')
    model = build_model_from_config(cfg)
    model.init_weights()
    own = model.backbone.state_dict()
    assert set(own) == set(weights)  # the same keys: nothing missing, nothing extra
    for name, value in own.items():
        assert torch.equal(value, weights[name]), name
    # and it trains: one classification loss with a gradient on the pre-trained stem
    samples = [DataSample().set_gt_label(i) for i in (1, 7)]
    losses = model.loss(torch.randn(2, 3, 64, 64), samples)
    sum(losses.values()).backward()
    assert model.backbone.stem.layers[0].weight.grad.abs().sum() > 0


def test_spmae_checkpoint_gives_zero_shot_superpixels(tmp_path):
    path = spmae_checkpoint(tmp_path)
    weights = backbone_weights(path)
    cfg = tiny_cfg('spformer-t-s8_zeroshot-224_bsds500-val.py')
    model = build_model_from_config(cfg)
    load_checkpoint(model, str(path), map_location='cpu', strict=False, logger='silent')
    own = model.backbone.state_dict()
    # every weight of the predictor's backbone comes from the checkpoint; at most the pooled
    # output's norm (fc_norm, a classifier part the superpixels do not use) is left out
    assert set(own) <= set(weights)
    assert set(weights) - set(own) <= {'fc_norm.weight', 'fc_norm.bias'}
    for name, value in own.items():
        assert torch.equal(value, weights[name]), name
    model.eval()
    img = torch.rand(1, 3, 64, 96) * 255
    sample = SegDataSample(metainfo=dict(img_shape=(64, 96), ori_shape=(64, 96),
                                         pad_shape=(64, 96)))
    data = model.data_preprocessor(dict(inputs=[img[0]], data_samples=[sample]), False)
    out = model.predict(data['inputs'], data['data_samples'])[0]
    ids = out.pred_superpixels.data
    assert ids.shape[-2:] == (64, 96)
    assert 1 < ids.unique().numel() <= (64 // 8) * (96 // 8)
