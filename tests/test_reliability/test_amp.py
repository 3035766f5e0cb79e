"""Mixed precision: bf16 CPU autocast vs fp32 outputs, and ``--amp`` training without NaNs.

Stated tolerances (measured on this CPU, random init, seed 0, in brackets):

* SPFormer-T classifier logits at 64 px: relative L2 error below 2% (0.4%).
* SP head (R50, 128x160): logits relative L2 error below 2% (0.3%); the association logits
  stay float32 under autocast (the softmax over the 9 candidates runs in fp32), and the
  association weights differ by less than 0.05 absolute (0.0044).
"""
import json
import math

import pytest
import torch
from mmengine.config import Config
from reliability_helpers import (SP_HEAD_CFG, SPFORMER_CFG, run_tool, sp_head_options,
                                 spformer_options)

from mmsp.ops import association_weights, merge_heads
from mmsp.utils import build_model_from_config

REL_TOL = 0.02


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def _model(path):
    torch.manual_seed(0)
    model = build_model_from_config(Config.fromfile(str(path)))
    model.init_weights()
    return model.eval()


def test_spformer_bf16_autocast_matches_fp32():
    model = _model(SPFORMER_CFG)
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x, mode='tensor')
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = model(x, mode='tensor')
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    assert _rel(low, ref) < REL_TOL
    # the check can fail: a visible perturbation of the input is far outside the tolerance
    with torch.no_grad():
        other = model(x + 0.5 * torch.randn_like(x), mode='tensor')
    assert _rel(other, ref) > REL_TOL


def test_sp_head_bf16_autocast_matches_fp32():
    model = _model(SP_HEAD_CFG)
    x = torch.randn(2, 3, 128, 160, generator=torch.Generator().manual_seed(1))
    head = model.decode_head
    with torch.no_grad():
        logits, assoc = head.forward_with_association(model.extract_feat(x))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            logits16, assoc16 = head.forward_with_association(model.extract_feat(x))
    assert torch.isfinite(logits16).all()
    assert _rel(logits16, logits) < REL_TOL
    # association: logits and weights in fp32 even under autocast
    assert assoc16.dtype == torch.float32
    w = association_weights(merge_heads(assoc)[:, None])  # (B, 1, 9, H, W)
    w16 = association_weights(merge_heads(assoc16)[:, None])
    assert w16.dtype == torch.float32 and torch.isfinite(w16).all()
    torch.testing.assert_close(w16.sum(2), torch.ones_like(w16.sum(2)))
    assert (w16 - w).abs().max().item() < 0.05


def _train_losses(work_dir):
    rows = [json.loads(x) for x in next(work_dir.glob('*/vis_data/scalars.json')).read_text()
            .splitlines()]
    return [r['loss'] for r in rows if 'loss' in r]


@pytest.mark.slow
@pytest.mark.parametrize('which', ['sp_head', 'spformer'])
def test_amp_training_has_no_nans(which, seg_data, cls_data, tmp_path):
    if which == 'sp_head':
        cfg, opts = SP_HEAD_CFG, sp_head_options(seg_data, iters=3)
        opts.append('train_cfg.val_interval=100')
    else:
        cfg, opts = SPFORMER_CFG, spformer_options(cls_data, iters=3, val=False)
    proc = run_tool(['tools/train.py', str(cfg), '--amp', '--work-dir', str(tmp_path),
                     '--cfg-options'] + opts)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert "type='mmseg.CPUAmpOptimWrapper'" in log or 'CPUAmpOptimWrapper' in log
    losses = _train_losses(tmp_path)
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses), losses
