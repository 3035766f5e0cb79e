"""tools/linear_probe.py: the probe learns what is linearly decodable and nothing else, the
features are the final tokens' mean before any norm, and an SP-MAE checkpoint's backbone loads
without missing or unexpected keys (tiny SPFormer, generated class folders)."""
import pytest
import torch
from mmengine.config import Config
from tools_helpers import REPO_ROOT, load_tool, make_tiny_class_folders

from mmsp.models.backbones import SPFormer

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 2), num_heads=2, sp_heads=2, sp_iter=2)
CLASSIFIER = REPO_ROOT / 'configs' / 'spmae' / 'spformer-t-s8_1xb64-30e_cifar10-64px.py'


def gaussian_clusters(n, seed, shift=4.):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 8, generator=g)
    x[:, :3] += shift * torch.nn.functional.one_hot(y, 3)
    return x, y


def test_probe_separates_separable_features_and_not_random_labels():
    probe = load_tool('linear_probe')
    train, test = gaussian_clusters(300, 0), gaussian_clusters(150, 1)
    result = probe.train_probe(train, test, epochs=30, lr=0.1, batch_size=64, seed=0,
                               device='cpu')
    assert result['top1'] > 95
    g = torch.Generator().manual_seed(2)
    shuffled = (test[0], test[1][torch.randperm(150, generator=g)])
    chance = probe.train_probe(train, shuffled, epochs=30, lr=0.1, batch_size=64, seed=0,
                               device='cpu')
    assert chance['top1'] < 55  # 3 classes: ~33 %


def test_spformer_features_are_the_mean_of_the_final_tokens_before_any_norm():
    probe = load_tool('linear_probe')
    cfg = dict(type='mmseg.SPFormer', arch=TINY, superpixel_stride=8, stem_type='cc4',
               img_size=32, out_type='avg_featmap')
    torch.manual_seed(0)
    from mmpretrain.registry import MODELS
    backbone = MODELS.build(probe.token_backbone_cfg(cfg)).eval()
    torch.manual_seed(0)
    reference = SPFormer(arch=TINY, superpixel_stride=8, stem_type='cc4', img_size=32,
                         out_type='avg_featmap').eval()
    reference.load_state_dict(backbone.state_dict(), strict=False)
    reference.fc_norm = torch.nn.Identity()  # the classifier's pooled output, without its norm
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feats = probe.pooled_features(backbone, x, 'mean')
        pooled = reference(x)[-1]
    assert feats.shape == (2, 16)
    torch.testing.assert_close(feats, pooled)
    with pytest.raises(ValueError, match='class token'):
        probe.pooled_features(backbone, x, 'cls')


def test_linear_probe_tool_on_a_spmae_checkpoint(tmp_path):
    probe = load_tool('linear_probe')
    classes = {f'c{i}': 6 for i in range(3)}
    make_tiny_class_folders(tmp_path / 'data', classes, 'train')
    make_tiny_class_folders(tmp_path / 'data', {k: 3 for k in classes}, 'test')
    cfg = Config.fromfile(str(CLASSIFIER))
    cfg.model.backbone.arch = TINY
    config = tmp_path / 'tiny_classifier.py'
    cfg.dump(str(config))
    # an SP-MAE-style checkpoint: the backbone's keys under backbone.*, plus other modules
    torch.manual_seed(1)
    student = SPFormer(arch=TINY, superpixel_stride=8, stem_type='cc4', img_size=64,
                       out_type='avg_featmap')
    state = {f'backbone.{k}': v for k, v in student.state_dict().items()}
    state.update({'neck.decoder_pos_embed': torch.zeros(1), 'mask_token': torch.zeros(1)})
    ckpt = tmp_path / 'spmae.pth'
    torch.save({'state_dict': state}, ckpt)
    options = ['--cfg-options'] + [
        f'{split}_dataloader.dataset.data_root={tmp_path / "data"}' for split in ('train', 'test')
    ]
    result = probe.main([
        str(config), str(ckpt), '--epochs', '20', '--batch-size', '8', '--device', 'cpu',
        '--work-dir', str(tmp_path / 'probe'), '--out', str(tmp_path / 'probe.json')
    ] + options)
    assert result['missing_keys'] == [] and result['unexpected_keys'] == []
    assert result['unused_output_norm_keys'] == ['fc_norm.weight', 'fc_norm.bias']
    assert (result['num_train'], result['num_test'], result['feature_dims']) == (18, 9, 16)
    assert result['top1'] > 60  # one colour per class: decodable from any encoder
    assert (tmp_path / 'probe.json').is_file()
    assert (tmp_path / 'probe' / 'features_mean.pt').is_file()
    with pytest.raises(ValueError, match='no backbone'):
        torch.save({'state_dict': {'head.w': torch.zeros(1)}}, tmp_path / 'bad.pth')
        probe.main([str(config), str(tmp_path / 'bad.pth'), '--work-dir', str(tmp_path / 'b')]
                   + options)


def test_vit_probe_loads_an_mae_checkpoint_and_pools_cls_or_mean(tmp_path):
    """mmpretrain's MAE encoder (MAEViT) -> the ViT classifier config's backbone: every key
    loads (the final norm ln1 is reported unused), features are the class token or the patch
    tokens' mean of the last block, before ln1."""
    probe = load_tool('linear_probe')
    from mmpretrain.models import MAEViT
    arch = dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32)
    torch.manual_seed(0)
    mae = MAEViT(arch=arch, img_size=64, patch_size=8)
    mae.init_weights()
    ckpt = tmp_path / 'mae.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in mae.state_dict().items()}}, ckpt)
    cfg = Config.fromfile(str(CLASSIFIER.with_name('vit-t-p8_1xb64-30e_cifar10-64px.py')))
    cfg.model.backbone.arch = arch
    backbone, _, report = probe.build_parts(cfg, str(ckpt), seed=0)
    assert report['missing_keys'] == [] and report['unexpected_keys'] == []
    assert sorted(report['unused_output_norm_keys']) == ['ln1.bias', 'ln1.weight']
    assert not backbone.training
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        # reference: MAEViT's own blocks without masking, stopped before its final norm
        tokens = mae.patch_embed(x)[0] + mae.pos_embed[:, 1:]
        tokens = torch.cat([(mae.cls_token + mae.pos_embed[:, :1]).expand(2, -1, -1), tokens], 1)
        for layer in mae.layers:
            tokens = layer(tokens)
        cls = probe.pooled_features(backbone, x, 'cls')
        mean = probe.pooled_features(backbone, x, 'mean')
    torch.testing.assert_close(cls, tokens[:, 0])
    torch.testing.assert_close(mean, tokens[:, 1:].mean(dim=1))
