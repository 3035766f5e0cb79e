"""Parameters and FLOPs of the model of an mmseg or mmpretrain config.

Usage::

    python tools/analysis_tools/get_flops.py CONFIG [--shape H W | --shape S] \\
        [--cfg-options ...] [--show-table]

The model runs in ``mode='tensor'`` (backbone, neck and head; no data pre-processing, no
post-processing) on one ``1 x 3 x H x W`` input, and :func:`mmsp.utils.count_multiply_adds`
counts it: mmengine's ``FlopAnalyzer`` with the fused self-attention matmuls counted, every mmsp
module in its paper form. These are the numbers of the model-zoo tables.

FLOPs follow the fvcore convention used by mmengine: one fused multiply-add counts as one FLOP;
element-wise operators (softmax, activations, additions) are not counted.
"""
import argparse
from typing import List, Optional

import mmsp  # noqa: F401  isort:skip  (registers mmsp modules)
import torch
from mmengine.config import Config, DictAction
from mmsp.utils import build_model_from_config, count_multiply_adds


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Count parameters and FLOPs of a config model')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[512, 512],
        help='input height and width (one value: a square input); default 512 512')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    parser.add_argument('--show-table', action='store_true',
                        help='print the 40 most costly modules')
    args = parser.parse_args(argv)
    if len(args.shape) == 1:
        args.shape = [args.shape[0]] * 2
    if len(args.shape) != 2 or min(args.shape) < 1:
        parser.error(f'--shape takes H W (or one size), got {args.shape}')
    return args


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model_from_config(cfg)
    model.eval()
    height, width = args.shape
    counts = count_multiply_adds(model, (torch.rand(1, 3, height, width), ))
    params = sum(p.numel() for p in model.parameters())
    split = '=' * 40
    print(f'{split}\nConfig: {args.config}\nInput shape: (1, 3, {height}, {width})\n'
          f'Flops: {counts.total / 1e9:.3f}G ({counts.total:,} multiply-adds)\n'
          f'Params: {params / 1e6:.3f}M ({params:,})\n{split}')
    if args.show_table:
        for name, count in sorted(counts.by_module.items(), key=lambda kv: -kv[1])[:40]:
            print(f'{name or "(model)":60s} {count / 1e9:10.4f}G')
    return dict(flops=counts.total, params=params, by_module=counts.by_module,
                by_operator=counts.by_operator)


if __name__ == '__main__':
    main()
