"""Parameters and FLOPs of the model of an mmseg or mmpretrain config.

Usage::

    python tools/get_flops.py CONFIG [--shape H W | --shape S] [--cfg-options ...] [--show-table]

The model runs in ``mode='tensor'`` (backbone, neck and head; no data pre-processing, no
post-processing) on one ``1 x 3 x H x W`` input, and mmengine's ``get_model_complexity_info``
counts it. Only ``inputs`` is passed to it: mmseg 1.2.2's own tool passes ``input_shape`` too and
dies with '"input_shape" and "inputs" cannot be both set' (fixed upstream after 1.2.2).

FLOPs follow the fvcore convention used by mmengine: one fused multiply-add counts as one FLOP;
element-wise operators (softmax, activations, additions) are not counted, and operators without a
counter are listed in a warning.
"""
import argparse
from typing import List, Optional

import mmsp  # noqa: F401  isort:skip  (registers mmsp modules)
import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config, DictAction
from mmsp.utils import build_model_from_config


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Count parameters and FLOPs of a config model')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[512, 512],
        help='input height and width (one value: a square input); default 512 512')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    parser.add_argument('--show-table', action='store_true', help='print the per-module table')
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
    inputs = torch.rand(1, 3, height, width)
    with torch.no_grad():
        result = get_model_complexity_info(
            model, inputs=(inputs, ), show_table=args.show_table, show_arch=False)
    split = '=' * 40
    print(f'{split}\nConfig: {args.config}\nInput shape: (1, 3, {height}, {width})\n'
          f'Flops: {result["flops_str"]} ({result["flops"]:,} multiply-adds)\n'
          f'Params: {result["params_str"]} ({result["params"]:,})\n{split}')
    if args.show_table:
        print(result['out_table'])
    return result


if __name__ == '__main__':
    main()
