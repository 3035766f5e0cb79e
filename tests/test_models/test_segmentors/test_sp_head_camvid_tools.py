"""2-iteration train + test of the CamVid configs through tools/train.py and tools/test.py."""
import importlib.util
import itertools
import os
import sys
from pathlib import Path

import pytest

from mmsp.utils import make_tiny_camvid

REPO = Path(__file__).resolve().parents[3]
CAMVID_SP = REPO / 'configs' / 'sp_head' / 'sp-head_r50_1xb4-1k_camvid-240x320.py'
CAMVID_FCN = REPO / 'configs' / 'sp_head' / 'fcn_r50_1xb4-1k_camvid-240x320.py'
_runs = itertools.count()


def tool(name):
    key = f'mmsp_sp_head_tools_{name}'
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / 'tools' / f'{name}.py')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[key] = module
    return sys.modules[key]


def options(data_root, train_images, val_images, crop=None):
    """Tiny, single-process settings for any CamVid config of configs/sp_head."""
    opts = [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'param_scheduler.0.end=1',
        'param_scheduler.1.begin=1', 'param_scheduler.1.end=2', 'train_dataloader.batch_size=2',
        f'train_dataloader.dataset.indices={train_images}',
        f'val_dataloader.dataset.indices={val_images}',
        f'test_dataloader.dataset.indices={val_images}', 'default_hooks.logger.interval=1',
        f'experiment_name=sp_head_tools_{os.getpid()}_{next(_runs)}'
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False',
                 f'{loader}.dataset.data_root={data_root}']
    if crop is not None:
        opts += [f'model.data_preprocessor.size=({crop[0]},{crop[1]})',
                 f'train_dataloader.dataset.pipeline.3.crop_size=({crop[0]},{crop[1]})']
    return opts


def train_and_test(config, data_root, work_dir, show_dir=None, **kwargs):
    opts = options(data_root, **kwargs)
    runner = tool('train').main([str(config), '--work-dir', str(work_dir / 'train'),
                                 '--cfg-options', *opts])
    assert runner.iter == 2
    checkpoint = work_dir / 'train' / 'iter_2.pth'
    assert checkpoint.is_file()
    show = ['--show-dir', str(show_dir)] if show_dir else []
    # a visualiser of its own: mmengine keeps one instance per name in the process, and the
    # training run's has no save_dir
    opts = opts + [f'visualizer.name=test_vis_{os.getpid()}_{next(_runs)}']
    return tool('test').main([str(config), str(checkpoint), '--work-dir', str(work_dir / 'test'),
                              *show, '--cfg-options', *opts])


def check_metrics(metrics):
    assert 0.0 <= float(metrics['mIoU']) <= 100.0
    assert 0.0 < float(metrics['sp/ASA']) <= 1.0
    assert float(metrics['sp/num_superpixels']) > 1


@pytest.mark.slow
def test_sp_head_camvid_real_data(camvid_root, tmp_path):
    metrics = train_and_test(CAMVID_SP, camvid_root, tmp_path, train_images=4, val_images=2)
    check_metrics(metrics)


@pytest.mark.slow
def test_fcn_baseline_camvid_generated_data(tmp_path):
    """The FCN baseline (grid superpixels) on a generated CamVid-layout set: always runs."""
    root = make_tiny_camvid(str(tmp_path / 'camvid'), {'train': 2, 'val': 1}, size=(72, 96))
    metrics = train_and_test(CAMVID_FCN, root, tmp_path, train_images=2, val_images=1,
                             crop=(64, 64), show_dir=tmp_path / 'show')
    check_metrics(metrics)
    # --show-dir draws ground truth | prediction | superpixel boundaries side by side
    import cv2
    drawn = sorted((tmp_path / 'show').glob('**/vis_image/*.png'))
    assert len(drawn) == 1
    assert cv2.imread(str(drawn[0])).shape == (72, 3 * 96, 3)
