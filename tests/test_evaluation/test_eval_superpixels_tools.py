"""End-to-end zero-shot evaluation and drawing on real BSDS500 images (skipped without data)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, METRICS, MODELS

REPO = Path(__file__).resolve().parents[2]
CFG = REPO / 'configs' / 'superpixel_eval'
TINY_ARCH = dict(pixel_dims=16, embed_dims=32, depths=(1, 1), num_heads=2, sp_heads=2, sp_iter=1)


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(REPO)  # configs use data_root='../shared/data/...' relative to the repo


def direct_scores(config, n):
    """The same evaluation without the Runner: dataset -> model.test_step -> metric."""
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(config))
    dataset = DATASETS.build(dict(cfg.test_dataloader.dataset, indices=n))
    model = MODELS.build(cfg.model).eval()
    metric = METRICS.build(cfg.test_evaluator)
    for i in range(len(dataset)):
        data = pseudo_collate([dataset[i]])
        metric.process(data, [s.to_dict() for s in model.test_step(data)])
    return metric.compute_metrics(metric.results)


@pytest.mark.data
def test_eval_table_on_three_bsds_images(bsds_root, tmp_path):
    tool = load_tool('eval_superpixels')
    grid, slic = CFG / 'patch-grid_14x14_bsds500-val.py', CFG / 'slic_n196_bsds500-val.py'
    out = tmp_path / 'table.md'
    rows = tool.main([
        '--method',
        str(grid), '--method',
        str(slic), '--max-images', '3', '--work-dir',
        str(tmp_path), '--out',
        str(out)
    ])
    g, s = rows['patch-grid_14x14_bsds500-val'], rows['slic_n196_bsds500-val']
    assert g['num_images'] == s['num_images'] == 3
    assert g['num_superpixels'] == 196  # 14x14 grid on the original image
    assert 100 < s['num_superpixels'] < 196  # SLIC returns fewer than requested
    assert s['BR'] > g['BR'] and s['ASA'] > 0.8 and g['ASA'] > 0.8
    assert 'patch-grid_14x14_bsds500-val' in out.read_text()
    direct = direct_scores(grid, 3)
    assert {k: g[k] for k in direct} == direct


@pytest.mark.data
def test_eval_dataset_override_and_checkpoint(bsds_root, tmp_path):
    """A VOC method config evaluated on BSDS500 through --dataset, with a checkpoint."""
    cfg_path = tmp_path / 'spformer-tiny_zeroshot.py'
    cfg_path.write_text(f"_base_ = ['{CFG / 'spformer-s_zeroshot-224_voc12-val.py'}']\n"
                        f'model = dict(backbone=dict(arch={dict(TINY_ARCH, _delete_=True)!r}))\n')
    init_default_scope('mmseg')
    model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    torch.manual_seed(0)
    state = {
        f'backbone.{k}': torch.randn_like(v) if v.is_floating_point() else v
        for k, v in model.backbone.state_dict().items()
    }
    state['head.fc.weight'] = torch.zeros(3, 3)  # classifier keys are ignored
    ckpt = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=state, meta=dict()), ckpt)
    tool = load_tool('eval_superpixels')
    args = [
        '--dataset',
        str(REPO / 'configs/_base_/datasets/bsds500.py'), '--max-images', '1', '--work-dir',
        str(tmp_path)
    ]
    # one table, the same config with and without the checkpoint: two rows, not one
    rows = tool.main(['--method', str(cfg_path), str(ckpt), '--method', str(cfg_path)] + args)
    loaded = rows['spformer-tiny_zeroshot [tiny]']
    random = rows['spformer-tiny_zeroshot [no checkpoint]']
    assert len(rows) == 2 and loaded['num_images'] == random['num_images'] == 1
    assert loaded != random  # the checkpoint was used
    # the zero-shot resize was inserted: 224 input -> 14x14 grid, at most 196 superpixels
    assert 1 <= loaded['num_superpixels'] <= 196
    alone = tool.main(['--method', str(cfg_path), str(ckpt)] + args)
    assert list(alone) == ['spformer-tiny_zeroshot']  # a config given once keeps its stem
    scores = {k: v for k, v in loaded.items() if k != 's_per_image'}
    assert {k: alone['spformer-tiny_zeroshot'][k] for k in scores} == scores


@pytest.mark.data
def test_bsds_baselines_tool_on_two_images(bsds_root, tmp_path):
    tool = load_tool('analysis_tools/bsds_baselines')
    rows = tool.main([
        '--data-root',
        str(bsds_root), '--max-images', '2', '--grid', '200', '--slic', '300', '--out',
        str(tmp_path / 't.json')
    ])
    grid, slic = rows['patch grid (target 200)'], rows['SLIC (asked 300)']
    assert grid['num_superpixels'] == 204  # 12 x 17 on 481x321 / 321x481
    assert grid['CO'] == pytest.approx(0.785, abs=0.01)  # squares: pi / 4
    assert slic['BR'] > grid['BR'] and slic['BR_seal'] <= slic['BR'] + 1e-9
    assert grid['ms_per_image'] >= 0 and (tmp_path / 't.json').is_file()


@pytest.mark.data
def test_visualize_tool_writes_panels(bsds_root, tmp_path):
    cfg_path = tmp_path / 'spformer-tiny.py'
    cfg_path.write_text(f"_base_ = ['{CFG / 'spformer-s_zeroshot-224_bsds500-val.py'}']\n"
                        f'model = dict(backbone=dict(arch={dict(TINY_ARCH, _delete_=True)!r}))\n')
    tool = load_tool('visualization/visualize_superpixels')
    image = sorted((bsds_root / 'images' / 'val').glob('*.jpg'))[0]
    written = tool.main([
        str(image), '--method',
        str(CFG / 'patch-grid_14x14_bsds500-val.py'), '--method',
        str(cfg_path), '--rotate', '30', '--occlude', '40', '--pixel', '100', '100', '--out-dir',
        str(tmp_path)
    ])
    import cv2
    panel = cv2.imread(written[0])
    # three variant rows of 2 (grid) + 3 (SPFormer: with its association) panels, <= 2000 px
    assert panel is not None and panel.shape[1] <= 2000
    assert not np.all(panel == 255)


def test_visualize_tool_compact_figure_without_empty_columns(tmp_path):
    """A generated image: the figure fits --max-width, holds one panel per method output (no
    blank column for the patch grid, which has no association), and every panel is drawn."""
    import cv2
    from mmsp.visualization import fit_width
    rng = np.random.default_rng(0)
    image = tmp_path / 'img.png'
    cv2.imwrite(str(image), rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    cfg_path = tmp_path / 'spformer-tiny.py'
    cfg_path.write_text(f"_base_ = ['{CFG / 'spformer-s_zeroshot-224_bsds500-val.py'}']\n"
                        f'model = dict(backbone=dict(arch={dict(TINY_ARCH, _delete_=True)!r}))\n')
    tool = load_tool('visualization/visualize_superpixels')
    written = tool.main([
        str(image), '--method', str(CFG / 'patch-grid_14x14_bsds500-val.py'), '--method',
        str(cfg_path), '--max-width', '400', '--out-dir', str(tmp_path)
    ])
    figure = cv2.imread(written[0])
    h, w = fit_width((90, 120), 5, 400)  # 2 grid panels + 3 SPFormer panels
    assert (h, w) == (56, 75)
    assert figure.shape[1] == 5 * (w + 4) + 4 <= 400
    image_rows = figure[-(h + 4):-4]  # the panels' pixel rows (titles above them)
    for col in range(5):
        x0 = 4 + col * (w + 4)
        assert not np.all(image_rows[:, x0:x0 + w] == 255), f'panel {col} is empty'


@pytest.mark.parametrize('dataset', ['voc12', 'parts58'])
def test_eval_configs_on_generated_fixtures(dataset, tmp_path):
    """The VOC12 / Parts-58 configs on a 2-image fixture in the documented folder layout."""
    from PIL import Image
    seg_dir, split = (('SegmentationClass',
                       'ImageSets/Segmentation/val.txt') if dataset == 'voc12' else
                      ('SegmentationPart58', 'ImageSets/val.txt'))
    root = tmp_path / 'data'
    for sub in ('JPEGImages', seg_dir, str(Path(split).parent)):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem in ('a', 'b'):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3),
                                     dtype=np.uint8)).save(root / 'JPEGImages' / f'{stem}.jpg')
        label = np.zeros((30, 40), np.uint8)
        label[:, 20:] = 7
        label[:, 19:21] = 255
        Image.fromarray(label).save(root / seg_dir / f'{stem}.png')
    (root / split).write_text('a\nb\n')
    tool = load_tool('eval_superpixels')
    config = CFG / f'patch-grid_14x14_{dataset}-val.py'
    rows = tool.main([
        '--method',
        str(config), '--work-dir',
        str(tmp_path), '--cfg-options', f'test_dataloader.dataset.data_root={root}'
    ])
    row = rows[config.stem]
    assert row['num_images'] == 2 and row['num_superpixels'] == 196
    # 14 columns of cells on 40 px: the class border (x = 20) is a cell border (cols 0-6 | 7-13)
    assert row['sp_mIoU'] == 100.0 and row['ASA'] == 1.0


@pytest.mark.slow
@pytest.mark.data
def test_grid_reproduces_spec_reference_on_full_bsds_val(bsds_root):
    """A 204-cell grid on all BSDS500 val pairs against independently measured scores (~20 s)."""
    rows = load_tool('analysis_tools/bsds_baselines').main(
        ['--data-root', str(bsds_root), '--grid', '200', '--slic'])
    row = rows['patch grid (target 200)']
    expected = dict(
        num_superpixels=204,
        ASA=0.898,
        UE=0.201,
        BR_seal=0.201,
        BR=0.263,
        BP=0.083,
        EV=0.611,
        CO=0.785)
    assert {k: row[k] for k in expected} == pytest.approx(expected, abs=6e-4)
