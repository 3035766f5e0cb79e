"""SP-MAE (mmpretrain registry): the algorithm, its decoder (neck) and its pixel head.

Needs mmpretrain (the ``cls`` extra); :mod:`mmsp.models` imports this package only when it
is installed.
"""
from .cosine_ema import HostStepCosineEMA
from .spmae import SPMAE, Partition, SuperpixelTeacher
from .spmae_head import SPMAEPretrainHead
from .spmae_neck import SPMAEDecoder

__all__ = [
    'SPMAE', 'SPMAEDecoder', 'SPMAEPretrainHead', 'SuperpixelTeacher', 'Partition',
    'HostStepCosineEMA'
]
