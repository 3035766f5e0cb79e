# SLIC control of the SP-MAE zero-shot table (scikit-image, compactness 10, connectivity
# enforced) asked for 784 segments, the cell count of an SPFormer/8 at 224 px; the metric reports
# the returned count (sp/num_superpixels).
_base_ = ['../superpixel_eval/slic_n196_bsds500-val.py']
model = dict(num_superpixels=784)
