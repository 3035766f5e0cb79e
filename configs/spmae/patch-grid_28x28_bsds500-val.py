# Grid control of the SP-MAE zero-shot table: a regular 28x28 grid (784 cells, the cell count of
# an SPFormer/8 at 224 px) laid over the original BSDS500 val image; no pixels, no weights.
_base_ = ['../superpixel_eval/patch-grid_14x14_bsds500-val.py']
model = dict(grid_size=(28, 28))
