"""Multiply-accumulate counts of a model's paper form, self-attention included.

mmengine's :class:`~mmengine.analysis.FlopAnalyzer` (the fvcore convention: one fused
multiply-add is one FLOP) has no handle for the fused ``aten::scaled_dot_product_attention``
that mmpretrain's ViTs and SPFormer's blocks call, so ``get_model_complexity_info`` leaves the
attention matmuls out. :func:`count_multiply_adds` adds a handle for them
(:func:`sdpa_flop_jit`), so that models with and without the fused op are counted alike, and
counts every mmsp module in its plain (paper) form (:func:`mmsp.ops.fast.paper_form`): the
number is the computation the papers describe, whichever implementation runs.
"""
import logging
from typing import Dict, List, NamedTuple, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.logging import MMLogger
from torch import nn

from mmsp.ops.fast import paper_form

__all__ = ['sdpa_flop_jit', 'MultiplyAdds', 'count_multiply_adds']


def sdpa_flop_jit(inputs: List, outputs: List) -> int:
    """MACs of ``softmax(q k^T) v``: ``q k^T`` and ``attn v``, ``B * heads * N * M * d`` each.

    A FlopAnalyzer op handle for ``aten::scaled_dot_product_attention`` (q: (..., N, d),
    v: (..., M, d_v); the softmax is not counted, as for every other element-wise op).
    """
    q, v = get_shape(inputs[0]), get_shape(inputs[2])
    *batch, n, d = q
    m, dv = v[-2], v[-1]
    return int(torch.tensor(batch).prod()) * n * m * (d + dv)


class MultiplyAdds(NamedTuple):
    """Counts of one forward: ``total``, ``by_module`` (``''`` is the whole model, submodules by
    their dotted names as ``model.named_modules()`` gives them) and ``by_operator`` (e.g.
    ``'linear'``, ``'scaled_dot_product_attention'``)."""
    total: int
    by_module: Dict[str, int]
    by_operator: Dict[str, int]


def count_multiply_adds(model: nn.Module, inputs: Tuple) -> MultiplyAdds:
    """Multiply-adds of ``model(*inputs)`` in its paper form, the SDPA matmuls included.

    One trace of :class:`~mmengine.analysis.FlopAnalyzer` under ``torch.no_grad()`` and
    :func:`~mmsp.ops.fast.paper_form`; its warnings about uncounted (element-wise) ops and
    uncalled modules are silenced. The total without the attention matmuls, which is what
    ``get_model_complexity_info`` reports for the plain form, is
    ``total - by_operator.get('scaled_dot_product_attention', 0)``.

    Args:
        model (nn.Module): the model (put it in eval mode first for inference counts).
        inputs (tuple): positional inputs of one forward.

    Returns:
        MultiplyAdds: the total, by module and by operator.
    """
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), paper_form(model):
            analyzer = FlopAnalyzer(model, inputs).set_op_handle(
                'aten::scaled_dot_product_attention', sdpa_flop_jit)
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            return MultiplyAdds(analyzer.total(), dict(analyzer.by_module()),
                                dict(analyzer.by_operator()))
    finally:
        logger.setLevel(level)
