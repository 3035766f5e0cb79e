"""Command-line handling of tools/train.py and tools/test.py (no training)."""
import pytest
from mmengine.config import Config
from tools_helpers import CLS_SMOKE, SEG_SMOKE, load_tool


def _train_cfg(argv):
    train = load_tool('train')
    return train.build_config(train.parse_args(argv))


def _test_cfg(argv):
    test = load_tool('test')
    return test.build_config(test.parse_args(argv))


def test_train_defaults_and_options(tmp_path):
    cfg = _train_cfg([str(SEG_SMOKE)])
    assert cfg.work_dir == './work_dirs/fcn_r18-d8_1xb2-2it_camvid-64x64'
    assert cfg.launcher == 'none' and not cfg.get('resume', False)
    cfg = _train_cfg([str(SEG_SMOKE), '--work-dir', str(tmp_path), '--launcher', 'pytorch',
                      '--cfg-options', 'train_cfg.max_iters=7', 'model.decode_head.channels=8'])
    assert cfg.work_dir == str(tmp_path) and cfg.launcher == 'pytorch'
    assert cfg.train_cfg.max_iters == 7 and cfg.model.decode_head.channels == 8


def test_train_resume_forms(tmp_path):
    cfg = _train_cfg([str(SEG_SMOKE), '--resume'])
    assert cfg.resume is True and cfg.load_from is None  # latest checkpoint of the work dir
    cfg = _train_cfg([str(SEG_SMOKE), '--resume', str(tmp_path / 'iter_2.pth')])
    assert cfg.resume is True and cfg.load_from == str(tmp_path / 'iter_2.pth')


def test_train_amp_on_cpu_and_gpu():
    cfg = _train_cfg([str(SEG_SMOKE), '--amp'])
    # this suite runs on CPUs: mmengine's AmpOptimWrapper refuses them, mmsp's bf16 one is used
    assert cfg.optim_wrapper.type == 'mmseg.CPUAmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    cfg = _train_cfg([str(CLS_SMOKE), '--amp'])
    assert cfg.optim_wrapper.type == 'mmseg.CPUAmpOptimWrapper'


def test_config_family_is_checked(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text("default_scope = 'mmdet'\nmodel = dict(type='X')\n")
    with pytest.raises(ValueError, match="default_scope='mmdet'"):
        _train_cfg([str(bad)])
    with pytest.raises(ValueError, match='default_scope'):
        _test_cfg([str(bad), str(bad)])


def test_test_outputs_seg(tmp_path):
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    cfg = _test_cfg([str(SEG_SMOKE), str(ckpt), '--out', str(tmp_path / 'pred'), '--show-dir',
                     str(tmp_path / 'show')])
    assert cfg.load_from == str(ckpt) and cfg.resume is False
    assert cfg.test_evaluator.output_dir == str(tmp_path / 'pred')
    assert cfg.test_evaluator.keep_results is True
    hook = cfg.default_hooks.visualization
    assert hook.draw is True and hook.interval == 1
    assert cfg.visualizer.save_dir == str(tmp_path / 'show')
    # a list of evaluators: --out goes to the IoUMetric entries
    listed = tmp_path / 'listed.py'
    listed.write_text(f"_base_ = ['{SEG_SMOKE}']\ntest_evaluator = [dict(type='IoUMetric'), "
                      "dict(type='CityscapesMetric')]\n")
    cfg = _test_cfg([str(listed), str(ckpt), '--out', str(tmp_path / 'p')])
    assert cfg.test_evaluator[0].output_dir == str(tmp_path / 'p')
    assert 'output_dir' not in cfg.test_evaluator[1]
    with pytest.raises(ValueError, match='IoUMetric'):
        _test_cfg([str(SEG_SMOKE), str(ckpt), '--out', str(tmp_path), '--cfg-options',
                   'test_evaluator.type=CityscapesMetric'])


def test_test_outputs_cls_and_missing_checkpoint(tmp_path):
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    cfg = _test_cfg([str(CLS_SMOKE), str(ckpt), '--out', str(tmp_path / 'r.pkl'), '--show-dir',
                     str(tmp_path / 'show')])
    hook = cfg.default_hooks.visualization
    assert hook.enable is True and hook.out_dir == str(tmp_path / 'show')
    with pytest.raises(ValueError, match='.pkl'):
        _test_cfg([str(CLS_SMOKE), str(ckpt), '--out', str(tmp_path / 'dir')])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _test_cfg([str(SEG_SMOKE), str(tmp_path / 'missing.pth')])


def test_smoke_configs_parse():
    seg, cls = Config.fromfile(str(SEG_SMOKE)), Config.fromfile(str(CLS_SMOKE))
    assert seg.default_scope == 'mmseg' and cls.default_scope == 'mmpretrain'
    assert seg.custom_imports == cls.custom_imports == dict(imports=['mmsp'],
                                                            allow_failed_imports=False)
