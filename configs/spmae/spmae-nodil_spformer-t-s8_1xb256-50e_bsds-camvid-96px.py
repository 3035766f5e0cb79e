# M4 on unlabelled natural images: teacher masks without dilation.
_base_ = ['./spmae_spformer-t-s8_1xb256-50e_bsds-camvid-96px.py']
model = dict(dilation=0)
