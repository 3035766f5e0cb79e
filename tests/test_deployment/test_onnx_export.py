"""ONNX export (torch.export, dynamo=True) gives PyTorch's answer in ONNX Runtime.

The references are the PyTorch modules themselves, run eagerly at every size; the exported
graphs share nothing with them but the weights. The association operators and a whole segmentor
(SPFormer backbone + superpixel-transformer head) are exported once each at one size with
dynamic height/width and compared at that size and at a size that is not a multiple of any
stride (partial border cells). Every grid has border cells whose out-of-grid candidates carry
``-inf`` logits: a ``-inf * 0`` anywhere in the graph makes ONNX Runtime return NaN.
"""
import warnings

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmseg.registry import MODELS
from torch import nn

import mmsp  # noqa: F401
from mmsp.deployment import (ExportSizeError, TensorModeWrapper, check_traced_sizes,
                             export_onnx, verify_onnx)
from mmsp.deployment.onnx_export import input_size_ranges
from mmsp.models.backbones import SPFormer
from mmsp.ops import association_logits, superpixel_update, unfold_with_logits

onnxruntime = pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')
# torch.export + ONNX translation of a tiny model: 1-5 min on a loaded 2-core machine
pytestmark = pytest.mark.timeout(1800)

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 1), num_heads=2, sp_heads=2, sp_iter=1)
EXPORT, OTHER = (64, 96), (75, 101)


class AssociationOps(nn.Module):
    """The three association operators on pixel/superpixel maps derived from one input."""

    def forward(self, pixels):
        sp = nn.functional.avg_pool2d(pixels, 4, ceil_mode=True)
        logits = association_logits(pixels, sp, 4, num_heads=2)
        return (logits, superpixel_update(logits, pixels, 4),
                unfold_with_logits(logits, sp, 4))


def test_association_ops_no_nan_in_onnx_runtime(tmp_path):
    """-inf logits of out-of-grid candidates never meet a 0/1 mask in a multiply."""
    path = str(tmp_path / 'ops.onnx')
    x = torch.randn(1, 4, 10, 14)  # 3 x 4 grid with partial border cells
    onnx_program = torch.onnx.export(
        AssociationOps(), (x, ), dynamo=True, input_names=['x'],
        dynamic_shapes=({2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}, ))
    onnx_program.save(path)
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    for size in [(10, 14), (13, 9)]:
        x = torch.randn(1, 4, *size)
        ref = AssociationOps()(x)
        out = session.run(None, {'x': x.numpy()})
        assert np.isinf(ref[0].numpy()).any()  # border candidates exist
        for o, r in zip(out, ref):
            r = r.numpy()
            assert o.shape == r.shape
            assert np.array_equal(np.isfinite(o), np.isfinite(r))  # -inf where PyTorch has it
            finite = np.isfinite(r)
            np.testing.assert_allclose(o[finite], r[finite], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope='module')
def spformer():
    torch.manual_seed(0)
    model = SPFormer(arch=TINY, img_size=64, drop_path_rate=0., out_pixels=True,
                     unfold_outputs=True)
    model.init_weights()
    return TensorModeWrapper(model).eval()


def _sp_head_segmentor(scale=1.0):
    """The superpixel-transformer head on a tiny SPFormer: its pixel map and its last stage
    unfolded to the pixels (``unfold_outputs``), so that the graph holds every association
    operator of the backbone."""
    backbone = dict(type='SPFormer', arch=TINY, img_size=64, drop_path_rate=0., out_pixels=True,
                    unfold_outputs=True)
    head = dict(type='SPTransformerHead', in_channels=[8, 16], in_index=[0, 1], channels=16,
                cell_size=4, query_grid=(4, 6), num_iterations=1, num_layers=1,
                num_attn_heads=2, num_classes=5, norm_cfg=dict(type='BN'), dropout_ratio=0.0)
    torch.manual_seed(0)
    model = MODELS.build(dict(type='SPEncoderDecoder', backbone=backbone, decode_head=head,
                              test_cfg=ConfigDict(mode='whole')))
    model.init_weights()
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(scale)
    return TensorModeWrapper(model).eval()


@pytest.fixture(scope='module')
def segmentor_onnx(tmp_path_factory):
    """One dynamic export of the whole segmentor: backbone and head in one graph (torch.export
    + ONNX translation take minutes, so the tests share it)."""
    model = _sp_head_segmentor()
    path = str(tmp_path_factory.mktemp('onnx') / 'seg.onnx')
    program = export_onnx(model, path, EXPORT, dynamic=True)
    return model, path, program


def test_sp_head_on_spformer_dynamic_sizes(segmentor_onnx):
    model, path, program = segmentor_onnx
    ranges = input_size_ranges(program)
    assert all(rng is not None and rng[0] <= 64 for rng in ranges.values()), ranges
    rows = verify_onnx(path, model, [EXPORT, OTHER])
    for row in rows:
        assert row['ok'] and row['nan'] == 0, row
        assert row['max_abs_diff'] < 1e-4 * max(1.0, row['max_abs_ref'])
    # the outputs really change size with the input
    blank = np.zeros((1, 3, *OTHER), np.float32)
    out = onnxruntime.InferenceSession(path).run(None, {'input': blank})
    assert out[0].shape == (1, 5, 19, 26)  # class logits at 1/4 of the input size


def test_verify_onnx_reports_other_weights(segmentor_onnx):
    """A mutation the verification must catch: PyTorch weights that differ from the export."""
    _, path, _ = segmentor_onnx
    rows = verify_onnx(path, _sp_head_segmentor(scale=1.1), [EXPORT])
    assert not rows[0]['ok'] and rows[0]['max_abs_diff'] > 1e-3


def test_fixed_size_export_refuses_other_sizes(tmp_path):
    model = TensorModeWrapper(nn.Conv2d(3, 2, 3, stride=2)).eval()
    path = str(tmp_path / 'fixed.onnx')
    export_onnx(model, path, (20, 24), dynamic=False)
    rows = verify_onnx(path, model, [(20, 24), (21, 24)])
    assert rows[0]['ok'] and rows[1]['refused'] and not rows[1]['ok']


def test_jit_trace_warns_and_other_sizes_are_detected(spformer):
    x = torch.randn(1, 3, *EXPORT)
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter('always')
        traced = torch.jit.trace(spformer, (x, ), check_trace=False, strict=False)
    assert any('only valid at that size' in str(w.message) for w in caught)
    check_traced_sizes(spformer, traced, [EXPORT])  # the traced size is right
    with pytest.raises(ExportSizeError, match='torch.jit.trace fixes every size'):
        check_traced_sizes(spformer, traced, [OTHER])


def test_legacy_exporter_points_to_dynamo(spformer, tmp_path):
    with pytest.raises(Exception, match='dynamo=True'):
        torch.onnx.export(spformer, (torch.randn(1, 3, *EXPORT), ), str(tmp_path / 'x.onnx'),
                          dynamo=False)
