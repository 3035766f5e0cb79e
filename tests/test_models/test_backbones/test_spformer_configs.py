"""The SPFormer configs: they load, build inside mmpretrain / mmseg, run and train."""
import copy
import os
from pathlib import Path

import mmpretrain.models  # noqa: F401  (a required package: missing is a failure)
import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmsp.models.backbones import SPFormer
from mmsp.utils import build_model_from_config

REPO = Path(__file__).resolve().parents[3]
CONFIGS = sorted(
    p for p in (REPO / 'configs' / 'spformer').glob('*.py') if not p.name.startswith('deit'))
CLS = {p.name for p in CONFIGS if '_in1k' in p.name or p.name.endswith('cifar10-64px.py')}
CIFAR = REPO / 'configs' / 'spformer' / 'spformer-t_1xb64-2k_cifar10-64px.py'


def test_every_config_is_covered():
    names = {p.name for p in CONFIGS}
    assert {
        'spformer-t_8xb128_in1k.py', 'spformer-s_8xb128_in1k.py', 'spformer-b_8xb128_in1k.py',
        'spformer-s-32_8xb128_in1k.py', 'spformer-s-56_8xb128_in1k.py',
        'spformer-s_8xb128_in1k-448px.py', 'spformer-t_1xb64-2k_cifar10-64px.py',
        'spformer-s_mln_upernet_8xb2-160k_ade20k-512x512.py',
        'spformer-s_mln_upernet_8xb2-80k_pascal-context-59-480x480.py'
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_builds_and_runs(path):
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports['imports'] == ['mmsp']
    if path.name in CLS:
        assert cfg.default_scope == 'mmpretrain' and cfg.model.backbone.type == 'mmseg.SPFormer'
    elif path.name.endswith('_superpixels.py'):
        assert cfg.default_scope == 'mmseg' and cfg.model.type == 'SuperpixelPredictor'
    else:
        assert cfg.default_scope == 'mmseg' and cfg.model.backbone.type == 'SPFormer'
        cfg.model.backbone.init_cfg = None  # the ImageNet checkpoint is not part of the tests
    model = build_model_from_config(cfg).eval()
    backbone = model.backbone
    assert isinstance(backbone, SPFormer)
    size = backbone.img_size
    with torch.no_grad():
        if path.name.endswith('_superpixels.py'):  # SuperpixelPredictor for the visualiser
            ids, counts = backbone.forward_superpixels(torch.randn(1, 3, *size))
            assert ids.shape == (1, *size) and 1 <= int(counts[0]) <= 16
        elif path.name in CLS:
            num_classes = cfg.model.head.num_classes
            assert backbone.out_type == 'avg_featmap'
            size = size if max(size) <= 64 else (64, 64)  # any size works; keep it cheap
            out = model(torch.randn(1, 3, *size), mode='tensor')
            assert out.shape == (1, num_classes)
        else:
            assert backbone.out_pixels and backbone.out_channels == tuple(
                cfg.model.neck.in_channels)
            out = model(torch.randn(1, 3, 96, 80), mode='tensor')
            assert out.shape == (1, cfg.model.decode_head.num_classes, 24, 20)


def test_deit_reference_config_is_mmpretrain_deit_small():
    cfg = Config.fromfile(str(REPO / 'configs' / 'spformer' / 'deit-s_8xb128_in1k.py'))
    model = build_model_from_config(cfg)
    assert type(model.backbone).__name__ == 'VisionTransformer'
    assert sum(p.numel() for p in model.parameters()) == 22050664


def test_variants_resolve_to_the_paper_models():

    def backbone(name):
        return Config.fromfile(str(REPO / 'configs' / 'spformer' / name)).model.backbone

    assert backbone('spformer-s-32_8xb128_in1k.py').superpixel_stride == 32
    assert backbone('spformer-s-56_8xb128_in1k.py').superpixel_stride == 56
    b448 = backbone('spformer-s_8xb128_in1k-448px.py')
    assert (b448.img_size, b448.superpixel_stride) == (448, 32)  # 14x14 superpixels
    assert backbone('spformer-b_8xb128_in1k.py').drop_path_rate == 0.6
    assert backbone('spformer-s_8xb128_in1k.py').drop_path_rate == 0.1


def test_segmentor_loss_backward():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    cfg = Config.fromfile(
        str(REPO / 'configs' / 'spformer' / 'spformer-s_mln_upernet_8xb2-160k_ade20k-512x512.py'))
    cfg.model.backbone.init_cfg = None
    model = build_model_from_config(cfg).train()
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 64, 64)))
        samples.append(s)
    losses = model(torch.randn(2, 3, 64, 64), samples, mode='loss')
    total = sum(v for k, v in losses.items() if k.startswith('loss') or 'loss' in k)
    total.backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert all(g is not None for g in grads)


def _class_folders(root: Path, split: str, per_class: int) -> None:
    rng = np.random.default_rng(0)
    for cls in ('a', 'b'):
        (root / split / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / split / cls / f'{i}.jpg')


@pytest.mark.slow
def test_cifar_config_trains_and_checkpoint_round_trip(tmp_path):
    """2 iterations of the CIFAR config in a Runner, then the runner checkpoint is loaded into
    a standalone backbone through ``init_cfg=Pretrained(prefix='backbone.')``."""
    from mmengine.runner import Runner
    data = Path(os.environ.get('MMSP_SHARED_DATA', REPO.parent / 'shared' / 'data')) / 'cifar10'
    cfg = Config.fromfile(str(CIFAR))
    if not data.is_dir():  # generated stand-in with the same folder layout
        data = tmp_path / 'cifar'
        _class_folders(data, 'train', 4)
        _class_folders(data, 'test', 2)
        cfg.model.head.num_classes = 2
        cfg.data_preprocessor.num_classes = 2
    for loader, n in ((cfg.train_dataloader, 8), (cfg.val_dataloader, 4)):
        loader.dataset.data_root = str(data)
        loader.dataset.indices = n
        loader.batch_size = 4
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    cfg.train_cfg.max_iters = 2
    cfg.train_cfg.val_interval = 2
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = tmp_path / 'work' / 'iter_2.pth'
    assert ckpt.is_file()

    trained = runner.model.backbone.state_dict()
    backbone = SPFormer(
        arch='tiny',
        img_size=64,
        out_type='avg_featmap',
        init_cfg=dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    backbone.init_weights()
    for name, value in backbone.state_dict().items():
        torch.testing.assert_close(value, trained[name], msg=name)
    assert any(
        not torch.equal(v,
                        SPFormer(arch='tiny', img_size=64, out_type='avg_featmap').state_dict()[k])
        for k, v in trained.items())


def test_layer_wise_lr_decay_with_mmpretrain_constructor():
    from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS
    cfg = Config.fromfile(str(CIFAR))
    model = build_model_from_config(cfg)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
            dict(
                type='LearningRateDecayOptimWrapperConstructor',
                optim_wrapper_cfg=dict(
                    type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
                paramwise_cfg=dict(layer_decay_rate=0.5)))
        groups = constructor(model).optimizer.param_groups
    lr = {g['param_name']: g['lr'] for g in groups}
    # 12 blocks -> 14 depths: lr = 1e-3 * 0.5 ** (13 - depth)
    assert lr['backbone.stem.layers.0.weight'] == pytest.approx(1e-3 * 0.5**13)
    assert lr['backbone.stages.1.blocks.9.attn.qkv.weight'] == pytest.approx(1e-3 * 0.5)
    assert lr['head.fc.weight'] == pytest.approx(1e-3)


def test_metafile_configs_exist_and_params_are_current():
    import yaml
    meta = yaml.safe_load((REPO / 'configs' / 'spformer' / 'metafile.yml').read_text())
    for entry in meta['Models']:
        path = REPO / entry['Config']
        assert path.is_file() and path.stem == entry['Name'], entry['Name']
        params = entry['Metadata'].get('Parameters')
        if params is not None:
            model = build_model_from_config(Config.fromfile(str(path)))
            assert sum(p.numel() for p in model.parameters()) == params, entry['Name']
