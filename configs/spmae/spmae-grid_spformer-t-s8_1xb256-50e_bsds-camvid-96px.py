# M2 on unlabelled natural images: the grid partition.
_base_ = ['./spmae_spformer-t-s8_1xb256-50e_bsds-camvid-96px.py']
model = dict(partition='grid')
