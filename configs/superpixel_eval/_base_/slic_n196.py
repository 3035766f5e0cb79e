# SLIC baseline (scikit-image): n_segments=196, compactness 10, connectivity enforced,
# run on the original image. scikit-image returns fewer segments than requested; the metric
# reports the returned count (sp/num_superpixels).
model = dict(
    type='SLICSuperpixels',
    num_superpixels=196,
    compactness=10.,
    enforce_connectivity=True,
    data_preprocessor=dict(type='SegDataPreProcessor', bgr_to_rgb=True))
