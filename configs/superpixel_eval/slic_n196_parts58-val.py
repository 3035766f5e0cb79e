_base_ = [
    '../_base_/datasets/pascal_parts58.py',
    './_base_/slic_n196.py',
    './_base_/sp_eval_runtime.py',
]
