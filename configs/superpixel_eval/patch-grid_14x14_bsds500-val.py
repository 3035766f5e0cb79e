_base_ = [
    '../_base_/datasets/bsds500.py',
    './_base_/patch-grid_14x14.py',
    './_base_/sp_eval_runtime.py',
]
