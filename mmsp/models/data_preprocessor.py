"""Batching clips: (3, T, H, W) samples to normalised (N, 3, T, H, W) inputs."""
from typing import Any, Dict

import torch
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS
from mmseg.utils import stack_batch

__all__ = ['ClipSegDataPreprocessor']


@MODELS.register_module()
class ClipSegDataPreprocessor(SegDataPreProcessor):
    """``SegDataPreProcessor`` for clips: (3, T, H, W) samples to (N, 3, T, H, W) inputs.

    mmaction2's ``NCTHW`` layout (``ActionDataPreprocessor(format_shape='NCTHW')``) with mmseg's
    conventions: BGR to RGB, ``(x - mean) / std`` per channel, bottom-right padding of every
    frame to ``size`` / ``size_divisor`` (training) or ``test_cfg`` (testing) with ``pad_val``
    and the labels (T, H, W) with ``seg_pad_val``; ``img_shape``, ``pad_shape`` and
    ``padding_size`` describe one frame. Same arguments as ``SegDataPreProcessor``.
    """

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Normalise and pad the clips of a batch.

        Args:
            data (dict): ``inputs``, a list of (3, T, H, W) uint8 clips, and ``data_samples``.
            training (bool): pad to ``size`` / ``size_divisor`` (else to ``test_cfg``).

        Returns:
            dict: ``inputs`` (N, 3, T, H', W') float and the ``data_samples``.
        """
        data = self.cast_data(data)
        inputs, data_samples = data['inputs'], data.get('data_samples', None)
        if any(x.dim() != 4 for x in inputs):
            raise ValueError(f'ClipSegDataPreprocessor: expected clips (C, T, H, W), got shapes '
                             f'{[tuple(x.shape) for x in inputs]}')
        if self.channel_conversion:
            inputs = [x[[2, 1, 0]] for x in inputs]
        inputs = [x.float() for x in inputs]
        if self._enable_normalize:
            inputs = [(x - self.mean[..., None]) / self.std[..., None] for x in inputs]
        clip_len = inputs[0].shape[1]
        if any(x.shape[:2] != inputs[0].shape[:2] for x in inputs):
            raise ValueError(f'ClipSegDataPreprocessor: clips of one batch need the same channels '
                             f'and length, got {[tuple(x.shape) for x in inputs]}')
        frames = [x.flatten(0, 1) for x in inputs]  # (3 T, H, W): mmseg pads the last two dims
        if training:
            if data_samples is None:
                raise ValueError('ClipSegDataPreprocessor: training needs data_samples')
            batch, data_samples = stack_batch(frames, data_samples, self.size, self.size_divisor,
                                              self.pad_val, self.seg_pad_val)
        elif self.test_cfg:
            batch, padded = stack_batch(
                frames,
                size=self.test_cfg.get('size', None),
                size_divisor=self.test_cfg.get('size_divisor', None),
                pad_val=self.pad_val,
                seg_pad_val=self.seg_pad_val)
            for sample, pad_info in zip(data_samples or [], padded):
                sample.set_metainfo({**pad_info})
        else:
            if any(x.shape != frames[0].shape for x in frames):
                raise ValueError('ClipSegDataPreprocessor: test clips of one batch need the same '
                                 'size (or set test_cfg=dict(size_divisor=...))')
            batch = torch.stack(frames)
        return dict(inputs=batch.unflatten(1, (-1, clip_len)), data_samples=data_samples)
