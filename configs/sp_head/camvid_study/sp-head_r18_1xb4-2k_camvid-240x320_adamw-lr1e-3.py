# Head study, default SP head (SPTransformerHead: 256 channels, 3 SCA layers, 6 global layers,
# LayerScale 1.0, association projection, 32-px superpixels) on the study's R18, AdamW lr 1e-3
# (the lr of the existing CamVid configs). Settings shared by every run: _base_/.
_base_ = ['./_base_/camvid_study_r18_2k.py']
