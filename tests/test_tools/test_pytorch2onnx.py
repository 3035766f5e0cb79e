"""tools/deployment/pytorch2onnx.py as a user runs it: config + checkpoint -> ONNX, verified."""
import contextlib
import io
import shutil

import pytest
import torch
from mmengine.config import Config
from tools_helpers import REPO_ROOT, load_tool

from mmsp.utils import build_model_from_config

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')
# torch.export + ONNX translation of a tiny model: 1-5 min on a loaded 2-core machine
pytestmark = pytest.mark.timeout(1800)

CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'sp-head_r18-w8_export-64x96.py'


@pytest.fixture(scope='module')
def config_and_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp('p2o')
    config = CONFIG
    torch.manual_seed(0)
    model = build_model_from_config(Config.fromfile(str(config)))
    model.init_weights()
    checkpoint = root / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    return str(config), str(checkpoint), root


@pytest.fixture(scope='module')
def dynamic_run(config_and_checkpoint):
    """One dynamic export with verification, as a user runs it (output captured)."""
    config, checkpoint, root = config_and_checkpoint
    out = str(root / 'dyn.onnx')
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = load_tool('deployment/pytorch2onnx').main(
            [config, checkpoint, '--shape', '64', '96', '--dynamic', '--verify',
             '--output-file', out])
    return rc, buf.getvalue(), out


def test_dynamic_export_verified_at_two_sizes(dynamic_run):
    rc, text, _ = dynamic_run
    assert rc == 0, text
    assert 'Supported input sizes: height in [' in text
    assert 'verify 64x96: max |onnx - torch|' in text and 'verify 83x109:' in text
    assert text.count('non-finite: 0 -> ok') == 2 and 'Verification passed' in text


def test_fixed_export_is_refused_at_another_size(config_and_checkpoint, capsys):
    config, checkpoint, root = config_and_checkpoint
    rc = load_tool('deployment/pytorch2onnx').main(
        [config, checkpoint, '--shape', '64', '96', '--verify', '--verify-shape', '64', '100',
         '--output-file', str(root / 'fixed.onnx')])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert 'accepts only 1x3x64x96' in text and 'refused as expected' in text


def test_verification_failure_exits_non_zero(config_and_checkpoint, dynamic_run, capsys,
                                             monkeypatch):
    """The tool's verdict follows the comparison: the ONNX model of the dynamic run against a
    PyTorch model whose weights were changed after loading makes it exit 1."""
    config, checkpoint, root = config_and_checkpoint
    tool = load_tool('deployment/pytorch2onnx')
    real_verify = tool.verify_onnx

    def reuse_export(model, path, *args, **kwargs):  # the dynamic run's file, no new export
        shutil.copy(dynamic_run[2], path)

    def verify_changed_model(path, model, *args, **kwargs):
        with torch.no_grad():
            for param in model.parameters():
                param.mul_(1.1)
        return real_verify(path, model, *args, **kwargs)

    monkeypatch.setattr(tool, 'export_onnx', reuse_export)
    monkeypatch.setattr(tool, 'verify_onnx', verify_changed_model)
    rc = tool.main([config, checkpoint, '--shape', '64', '96', '--verify', '--verify-shape',
                    '64', '96', '--output-file', str(root / 'changed.onnx')])
    text = capsys.readouterr().out
    assert rc == 1 and 'verify 64x96: max |onnx - torch|' in text and 'FAILED' in text, text


def test_checkpoint_of_another_model_is_refused(config_and_checkpoint, tmp_path):
    config, _, _ = config_and_checkpoint
    bad = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'backbone.stem.0.conv.weight': torch.zeros(1)}), bad)
    with pytest.raises((RuntimeError, KeyError)):
        load_tool('deployment/pytorch2onnx').main(
            [config, str(bad), '--shape', '64', '96', '--output-file', str(tmp_path / 'x.onnx')])
