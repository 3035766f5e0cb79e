"""Params / FLOPs of SPFormer and DeiT classifiers, as ``tools/analysis_tools/get_flops.py``
counts them.

Used by ``test_spformer_complexity.py`` and runnable on its own to print the table of
``configs/spformer/README.md``::

    PYTHONPATH=. OMP_NUM_THREADS=1 python tests/test_models/test_backbones/spformer_complexity.py

"FLOPs" are multiply-accumulates (the fvcore/mmengine convention the paper's numbers follow) of
the paper form of every module with the self-attention matmuls included
(:func:`mmsp.utils.count_multiply_adds`): DeiT-S is 4.61G, the paper prints 4.6G.
"""
import logging
from pathlib import Path
from typing import Dict, Tuple

import torch
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


def complexity(model: torch.nn.Module, size: int) -> Dict[str, float]:
    """``params`` (M) and ``flops`` (G multiply-adds of the paper form, attention included)."""
    MMLogger.get_current_instance().setLevel(logging.ERROR)
    counts = count_multiply_adds(model, (torch.randn(1, 3, size, size), ))
    params = sum(p.numel() for p in model.parameters())
    return dict(params=params / 1e6, flops=counts.total / 1e9)


def main() -> None:
    print('| model | params (M) | paper params | GFLOPs | paper GFLOPs |')
    print('|---|---|---|---|---|')
    for name, (config, size, paper_params, paper_flops) in MODELS.items():
        c = complexity(build_classifier(config), size)
        print(f'| {name} | {c["params"]:.2f} | {paper_params:g} | {c["flops"]:.2f} | '
              f'{paper_flops:g} |')


if __name__ == '__main__':
    main()
