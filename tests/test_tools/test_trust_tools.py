"""Checkpoints and data through the tools as a user runs them. The checkpoint of another model
(architecture, num_classes, model size) is refused with the keys named, before anything is
evaluated; --non-strict and load_prefix are the deliberate ways to load part of one. A label
value outside the classes is named with its file."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
from tools_helpers import (CLS_SMOKE, REPO_ROOT, SEG_SMOKE, data_options, load_tool,
                           run_tool)

from mmsp.utils import CheckpointMismatchError, build_model_from_config, make_tiny_camvid

ZERO_SHOT = REPO_ROOT / 'configs' / 'superpixel_eval' / 'spformer-s_zeroshot-224_voc12-val.py'
CAMVID_DATA = REPO_ROOT / 'configs' / '_base_' / 'datasets' / 'camvid.py'


def _tiny_arch(embed_dims):
    return dict(pixel_dims=16, embed_dims=embed_dims, depths=(1, 1), num_heads=2, sp_heads=2,
                sp_iter=1, _delete_=True)


def _zero_shot_config(folder: Path, embed_dims: int) -> Path:
    """The zero-shot SPFormer config with a tiny architecture of ``embed_dims`` channels."""
    path = folder / f'zeroshot_{embed_dims}.py'
    path.write_text(f"_base_ = ['{ZERO_SHOT}']\n"
                    f'model = dict(backbone=dict(arch={_tiny_arch(embed_dims)!r}))\n')
    return path


def _classifier_checkpoint(folder: Path, embed_dims: int) -> Path:
    """A published-style checkpoint of an SPFormer classifier (``backbone.*`` + ``head.*``)."""
    cfg = Config.fromfile(str(_zero_shot_config(folder, embed_dims)))
    backbone = build_model_from_config(cfg).backbone  # out_type='avg_featmap': as a classifier
    torch.manual_seed(embed_dims)
    state = {f'backbone.{k}': torch.randn_like(v) if v.is_floating_point() else v
             for k, v in backbone.state_dict().items()}
    state.update({'head.fc.weight': torch.zeros(10, embed_dims), 'head.fc.bias': torch.zeros(10)})
    path = folder / f'classifier_{embed_dims}.pth'
    torch.save(dict(state_dict=state, meta=dict(iter=1)), path)
    return path


def test_test_tool_refuses_other_num_classes(seg_run_4iters, tiny_camvid, tmp_path):
    """The reported bug: exit status 0 and metrics of a randomly initialised head."""
    ckpt = seg_run_4iters / 'iter_4.pth'
    proc = run_tool(['tools/test.py', str(SEG_SMOKE), str(ckpt), '--work-dir', str(tmp_path)] +
                    data_options(tiny_camvid, 'classes', ['model.decode_head.num_classes=5']),
                    timeout=180)
    assert proc.returncode != 0
    assert f"CheckpointMismatchError: checkpoint '{ckpt}' does not match" in proc.stderr
    assert ('decode_head.conv_seg.weight [11, 32, 1, 1] in the checkpoint vs [5, 32, 1, 1] '
            'in the model') in proc.stderr
    assert 'Iter(test)' not in proc.stdout + proc.stderr  # nothing was evaluated


def test_test_tool_refuses_other_architecture_and_non_strict_is_explicit(
        seg_run_4iters, tiny_camvid, tmp_path):
    classifier = tmp_path / 'resnet_classifier.pth'
    torch.save(dict(state_dict=build_model_from_config(Config.fromfile(str(CLS_SMOKE))).
                    state_dict()), classifier)
    test = load_tool('test')
    with pytest.raises(CheckpointMismatchError) as info:
        test.main([str(SEG_SMOKE), str(classifier), '--work-dir', str(tmp_path)] +
                  data_options(tiny_camvid, 'arch'))
    message = str(info.value)
    assert str(classifier) in message and 'missing in the checkpoint' in message
    assert 'more)' in message and 'head.fc.weight' in message  # long lists are capped
    # the deliberate partial load: what matches is loaded, the rest is listed, the test runs
    metrics = test.main([
        str(SEG_SMOKE), str(seg_run_4iters / 'iter_4.pth'), '--work-dir', str(tmp_path),
        '--non-strict'
    ] + data_options(tiny_camvid, 'nonstrict', ['model.decode_head.num_classes=5']))
    assert 'mIoU' in metrics


def test_train_tool_load_from_is_strict(seg_run_4iters, tiny_camvid, tmp_path):
    with pytest.raises(CheckpointMismatchError, match='decode_head.conv_seg.bias'):
        load_tool('train').main([str(SEG_SMOKE), '--work-dir', str(tmp_path)] + data_options(
            tiny_camvid, 'load_from',
            [f'load_from={seg_run_4iters / "iter_2.pth"}', 'model.decode_head.num_classes=5']))
    assert not list(tmp_path.glob('*.pth'))  # refused before the first iteration


def test_zero_shot_prefix_loads_a_classifier_and_refuses_another_size(tmp_path):
    """visualize_superpixels: a classifier's backbone.* keys load strictly (load_prefix);
    the weights of another model size are refused (as SPFormer-S weights into -T)."""
    image = tmp_path / 'img.png'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), np.uint8)).save(image)
    config = _zero_shot_config(tmp_path, 32)
    vis = load_tool('visualization/visualize_superpixels')
    written = vis.main([str(image), '--method', str(config), str(_classifier_checkpoint(
        tmp_path, 32)), '--out-dir', str(tmp_path / 'out')])
    assert Path(written[0]).is_file()
    other = _classifier_checkpoint(tmp_path, 48)
    with pytest.raises(CheckpointMismatchError, match=r'shape mismatch .*\[48\] in the checkpoint'
                       r' vs \[32\] in the model'):
        vis.main([str(image), '--method', str(config), str(other), '--out-dir', str(tmp_path)])


def test_eval_tool_refuses_another_model_size(tiny_camvid, tmp_path):
    tool = load_tool('eval_superpixels')
    other = _classifier_checkpoint(tmp_path, 48)
    with pytest.raises(CheckpointMismatchError, match=str(other)):
        tool.main([
            '--method', str(_zero_shot_config(tmp_path, 32)), str(other), '--dataset',
            str(CAMVID_DATA), '--max-images', '1', '--work-dir', str(tmp_path),
            '--cfg-options', f'test_dataloader.dataset.data_root={tiny_camvid}'
        ])


def test_pretrained_prefix_reports_what_was_and_was_not_loaded(seg_run_4iters, tmp_path):
    """Fine-tuning stays one config line (init_cfg=Pretrained, prefix='backbone.'); mmengine
    logs every parameter it loaded and lists the keys that did not match."""
    from mmengine.logging import MMLogger
    log = tmp_path / 'init.log'
    MMLogger.get_instance(f'pretrained_{tmp_path.name}', log_file=str(log))  # now current
    cfg = Config.fromfile(str(SEG_SMOKE))
    cfg.model.backbone.depth = 34  # more blocks than the checkpoint's ResNet-18
    ckpt = seg_run_4iters / 'iter_2.pth'
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.')
    build_model_from_config(cfg).init_weights()
    text = log.read_text()
    assert 'missing keys in source state_dict' in text and 'layer3.5.conv1.weight' in text
    assert f'backbone.layer1.0.conv1.weight - torch.Size([16, 16, 3, 3]): \nPretrainedInit: ' \
        f'load from {ckpt}' in text


def test_test_tool_names_a_bad_label_file(seg_run_4iters, tmp_path):
    data = tmp_path / 'data'
    make_tiny_camvid(str(data), {'train': 1, 'val': 2}, size=(48, 64), seed=0)
    label = sorted((data / 'labels' / 'val').iterdir())[1]
    pixels = np.array(Image.open(label))
    pixels[0, 0] = 200
    Image.fromarray(pixels).save(label)
    with pytest.raises(ValueError, match=rf'{label} has label values \[200\]'):
        load_tool('test').main([str(SEG_SMOKE), str(seg_run_4iters / 'iter_4.pth'),
                                '--work-dir', str(tmp_path / 'w')] +
                               data_options(data, 'badlabel'))
