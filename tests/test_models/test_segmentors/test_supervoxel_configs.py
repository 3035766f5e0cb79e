"""The supervoxel configs: the CPU training run trains and scores clips with the mmengine Runner;
the zero-shot config inflates an image SPFormer checkpoint on load."""
import os.path as osp
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint

from mmsp.models.backbones import SPFormer
from mmsp.ops.fast import fast_path
from mmsp.utils import build_model_from_config, make_tiny_camvid

REPO = Path(__file__).resolve().parents[3]
TRAIN = REPO / 'configs' / 'supervoxel' / 'spformer3d-t_1xb2-400it_camvid-clips-2x120x160.py'
ZERO_SHOT = (REPO / 'configs' / 'supervoxel' /
             'spformer3d-t_inflated-zero-shot_camvid-val-clips-8x240x320.py')
TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 1), num_heads=2, sp_heads=2, sp_iter=1)
# train: one 1-Hz run of 3 frames (2 clips of 2); val: one 15-Hz run of 9 frames (1 clip of 8)
TRAIN_STEMS = ['0001TP_006690', '0001TP_006720', '0001TP_006750']
VAL_STEMS = [f'0016E5_{n:05d}' for n in range(7959, 7977, 2)]


def _tiny(cfg: Config, root: str, work_dir: str) -> Config:
    """The config with a tiny SPFormer3D, pointed at ``root``, single-process loaders."""
    cfg.model.backbone.arch = TINY
    cfg.model.decode_head.in_channels = cfg.model.decode_head.channels = 16
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if loader:
            loader.dataset.data_root = root
            loader.num_workers = 0
            loader.persistent_workers = False
    return cfg


def test_training_config_trains_and_scores_clips(tmp_path):
    root = make_tiny_camvid(str(tmp_path / 'camvid'), {'train': TRAIN_STEMS, 'val': VAL_STEMS})
    cfg = _tiny(Config.fromfile(str(TRAIN)), root, str(tmp_path / 'work'))
    assert cfg.train_dataloader.dataset.clip_len == 2 and cfg.model.type == 'SPVideoEncoderDecoder'
    assert cfg.val_dataloader.dataset.clip_len == 8
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = 2
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint.interval = 2
    with fast_path(False):
        runner = Runner.from_cfg(cfg)
        before = {k: v.clone() for k, v in runner.model.state_dict().items()}
        runner.train()
    assert len(runner.train_dataloader.dataset) == 2
    changed = [k for k, v in runner.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith('backbone.stages.0.sca') for k in changed)
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_2.pth'))
    metrics = runner.val_loop.run()
    assert {'mIoU', 'svx/SA', 'svx/UE_levinshtein', 'svx/BR', 'svx/EV', 'svx/duration'} <= set(
        metrics)
    assert 1 <= metrics['svx/duration'] <= 8 and 0 <= metrics['svx/SA'] <= 1


def test_zero_shot_config_inflates_an_image_checkpoint_on_load(tmp_path):
    cfg = Config.fromfile(str(ZERO_SHOT))
    assert cfg.model.backbone.img_size == (8, 240, 320)
    assert cfg.test_dataloader.dataset.clip_len == 8 and cfg.train_dataloader is None
    torch.manual_seed(0)
    with fast_path(False):
        image = SPFormer('tiny', superpixel_stride=16, img_size=(240, 320)).eval()
        image.init_weights()
        with torch.no_grad():
            for p in image.parameters():
                p.add_(0.05 * torch.randn_like(p))
        model = build_model_from_config(cfg).eval()
    path = str(tmp_path / 'spformer-t_image.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in image.state_dict().items()}}, path)
    load_checkpoint(model, path, map_location='cpu', strict=False, logger='silent')
    pe = model.backbone.stages[0].sca[0].pixel_pe.weight
    assert torch.equal(pe[:, :, 1], image.stages[0].sca[0].pixel_pe.weight)
    assert not pe[:, :, [0, 2]].any()
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():  # unfold_outputs=True: one map per frame
        torch.testing.assert_close(model.backbone(x[:, :, None])[0][:, :, 0],
                                   _with_state(image, unfold_outputs=True)(x)[0],
                                   atol=1e-4,
                                   rtol=1e-4)


def _with_state(image: SPFormer, **kwargs) -> SPFormer:
    """An image SPFormer with ``kwargs`` changed and ``image``'s weights."""
    with fast_path(False):
        other = SPFormer('tiny', superpixel_stride=16, img_size=(240, 320), **kwargs).eval()
    other.load_state_dict(image.state_dict())
    return other


def test_zero_shot_config_runs_the_test_loop_from_an_image_checkpoint(tmp_path):
    root = make_tiny_camvid(str(tmp_path / 'camvid'), {'val': VAL_STEMS})
    cfg = _tiny(Config.fromfile(str(ZERO_SHOT)), root, str(tmp_path / 'work'))
    torch.manual_seed(1)
    with fast_path(False):
        image = SPFormer(TINY, superpixel_stride=16, img_size=(240, 320))
    image.init_weights()
    path = str(tmp_path / 'image.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in image.state_dict().items()}}, path)
    cfg.load_from = path
    with fast_path(False):
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
    keys = ('SA', 'UE_levinshtein', 'UE_np', 'BR', 'BP', 'EV', 'duration', 'num_supervoxels')
    assert set(metrics) == {f'svx/{k}' for k in keys}
    assert 1 < metrics['svx/num_supervoxels'] <= 4 * 15 * 20
    assert np.isfinite(list(metrics.values())).all()
    pe = runner.model.backbone.stages[0].sca[0].pixel_pe.weight
    assert torch.equal(pe[:, :, 1], image.stages[0].sca[0].pixel_pe.weight)


def test_metafile_configs_exist_and_params_are_current():
    import yaml
    meta = yaml.safe_load((REPO / 'configs' / 'supervoxel' / 'metafile.yml').read_text())
    assert {e['Name'] for e in meta['Models']} == {TRAIN.stem, ZERO_SHOT.stem}
    for entry in meta['Models']:
        path = REPO / entry['Config']
        assert path.is_file() and path.stem == entry['Name'], entry['Name']
        model = build_model_from_config(Config.fromfile(str(path)))
        assert sum(p.numel() for p in model.parameters()) == entry['Metadata']['Parameters']
