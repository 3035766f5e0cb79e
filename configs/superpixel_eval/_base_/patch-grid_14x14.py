# "Patch" baseline of the SPFormer zero-shot table: a regular 14x14 grid (196 cells) laid over
# the ORIGINAL image; needs no pixels and no weights.
model = dict(type='PatchGridSuperpixels', grid_size=(14, 14))
