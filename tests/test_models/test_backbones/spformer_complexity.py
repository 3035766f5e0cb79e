"""Params / FLOPs of SPFormer and DeiT classifiers with mmengine's counter.

Used by ``test_spformer_complexity.py`` and runnable on its own to print the table of
``docs/spformer.md`` / ``configs/spformer/metafile.yml``::

    PYTHONPATH=. OMP_NUM_THREADS=1 python tests/test_models/test_backbones/spformer_complexity.py

"FLOPs" are multiply-accumulates, the fvcore/mmengine convention the paper's numbers follow.
mmengine's counter has no handle for the fused ``aten::scaled_dot_product_attention`` that both
mmpretrain's DeiT and SPFormer's ViT blocks use, so ``get_model_complexity_info`` leaves the
self-attention matmuls out (spec 3.7, "SDPA not counted"); :func:`complexity` also reports the
total with a handle that counts them (``2 * B * heads * N^2 * d`` MACs,
:func:`mmsp.utils.sdpa_flop_jit`).

The counter sees what the code computes. SPFormer's SCA layers absorb the pixel key/query
projections into the superpixels (``SuperpixelCrossAttention.ABSORB_MIN_CELL_PIXELS``; the
same function with ~4x fewer multiply-accumulates per pixel), so :func:`complexity` can also
count with the absorption switched off (``projected_keys=True``): every pixel's q/k projected,
the form of the reference code whose FLOPs the paper reports.
"""
import contextlib
import logging
from pathlib import Path
from typing import Dict, Tuple

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.logging import MMLogger

from mmsp.utils import count_multiply_adds

REPO = Path(__file__).resolve().parents[3]

#: name -> (config, input size, paper params in M, paper GFLOPs)
MODELS: Dict[str, Tuple[str, int, float, float]] = {
    'SPFormer-T': ('configs/spformer/spformer-t_8xb128_in1k.py', 224, 5., 1.3),
    'SPFormer-S': ('configs/spformer/spformer-s_8xb128_in1k.py', 224, 22., 4.9),
    'SPFormer-B': ('configs/spformer/spformer-b_8xb128_in1k.py', 224, 88., 18.5),
    'SPFormer-S/32': ('configs/spformer/spformer-s-32_8xb128_in1k.py', 224, 22., 1.2),
    'SPFormer-S/56': ('configs/spformer/spformer-s-56_8xb128_in1k.py', 224, 22., 0.5),
    'SPFormer-S 448': ('configs/spformer/spformer-s_8xb128_in1k-448px.py', 448, 22., 4.9),
    'DeiT-T': ('mmpretrain::deit/deit-tiny_4xb256_in1k.py', 224, 5., 1.3),
    'DeiT-S': ('mmpretrain::deit/deit-small_4xb256_in1k.py', 224, 22., 4.6),
    'DeiT-B': ('mmpretrain::deit/deit-base_16xb64_in1k.py', 224, 87., 17.6),
}


def build_classifier(config: str) -> torch.nn.Module:
    """An mmpretrain ``ImageClassifier`` from a config path (repo-relative) or ``pkg::`` name."""
    import mmpretrain.models  # noqa: F401  (registers the classifier parts)
    import mmsp  # noqa: F401
    from mmsp.utils import build_model_from_config
    cfg = get_config(config) if '::' in config else Config.fromfile(str(REPO / config))
    return build_model_from_config(cfg).eval()  # in the config's scope, restored afterwards


@contextlib.contextmanager
def projected_keys():
    """Within the block, every SCA layer projects its pixels' q/k (no absorbed keys)."""
    from mmsp.models.utils import SuperpixelCrossAttention
    saved = SuperpixelCrossAttention.ABSORB_MIN_CELL_PIXELS
    SuperpixelCrossAttention.ABSORB_MIN_CELL_PIXELS = 1 << 62
    try:
        yield
    finally:
        SuperpixelCrossAttention.ABSORB_MIN_CELL_PIXELS = saved


def complexity(model: torch.nn.Module,
               size: int,
               check_info: bool = False,
               projected: bool = False) -> Dict[str, float]:
    """``params`` (M), ``flops`` (G, mmengine counter, SDPA not counted), ``flops_sdpa`` (G).

    ``projected=True`` counts inside :func:`projected_keys`.
    One trace of :func:`mmsp.utils.count_multiply_adds` (mmengine's ``FlopAnalyzer`` with the
    SDPA handle added); ``flops`` leaves that op out, which is exactly what
    ``get_model_complexity_info`` reports (``check_info=True`` also runs it and asserts the
    equality; it traces twice more).
    """
    MMLogger.get_current_instance().setLevel(logging.ERROR)
    inputs = (torch.randn(1, 3, size, size), )
    with torch.no_grad(), (projected_keys() if projected else contextlib.nullcontext()):
        counts = count_multiply_adds(model, inputs)
        with_sdpa = counts.total
        flops = with_sdpa - counts.by_operator.get('scaled_dot_product_attention', 0)
        params = sum(p.numel() for p in model.parameters())
        if check_info:
            info = get_model_complexity_info(
                model, inputs=inputs, show_table=False, show_arch=False)
            assert (info['flops'], info['params']) == (flops, params), (info, flops, params)
    return dict(params=params / 1e6, flops=flops / 1e9, flops_sdpa=with_sdpa / 1e9)


def main() -> None:
    print('| model | params (M) | paper params | GFLOPs (SDPA not counted) | GFLOPs (all) '
          '| GFLOPs (all, projected keys) | paper GFLOPs |')
    print('|---|---|---|---|---|---|---|')
    for name, (config, size, paper_params, paper_flops) in MODELS.items():
        model = build_classifier(config)
        c = complexity(model, size, check_info=True)
        p = complexity(model, size, projected=True)
        print(f'| {name} | {c["params"]:.2f} | {paper_params:g} | {c["flops"]:.2f} | '
              f'{c["flops_sdpa"]:.2f} | {p["flops_sdpa"]:.2f} | {paper_flops:g} |')


if __name__ == '__main__':
    main()
