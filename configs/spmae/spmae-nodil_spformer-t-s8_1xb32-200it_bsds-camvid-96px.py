# M4 on unlabelled natural images, CPU-sized: teacher masks without dilation.
_base_ = ['./spmae_spformer-t-s8_1xb32-200it_bsds-camvid-96px.py']
model = dict(dilation=0)
