# M2 on unlabelled natural images, CPU-sized: the grid partition.
_base_ = ['./spmae_spformer-t-s8_1xb32-200it_bsds-camvid-96px.py']
model = dict(partition='grid')
