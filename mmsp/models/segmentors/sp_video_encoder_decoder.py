"""Clip segmentor: per-frame semantic segmentation and supervoxels from a clip backbone."""
from typing import List, Tuple

import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from mmsp.ops import association_to_superpixels, resize_ids
from .sp_encoder_decoder import SPEncoderDecoder

__all__ = ['SPVideoEncoderDecoder']


def frames_to_batch(x: Tensor) -> Tensor:
    """(N, C, T, H, W) to (N T, C, H, W): every frame a sample, clip by clip."""
    return x.transpose(1, 2).flatten(0, 1)


@MODELS.register_module()
class SPVideoEncoderDecoder(SPEncoderDecoder):
    """An encoder-decoder on clips (N, 3, T, H, W) with an image decode head per frame.

    The backbone (e.g. :class:`~mmsp.models.backbones.SPFormer3D` with ``unfold_outputs=True``)
    gives one map per frame, (N, C, T, h, w); the frames are folded into the batch, (N T, C,
    h, w), and the neck and the (image) decode and auxiliary heads run on them unchanged:

    * :meth:`loss`: the heads' losses over the **labelled** frames only (a frame whose labels
      are all ``ignore_index`` is skipped; training on clips with sparse labels);
    * :meth:`predict`: per clip, ``pred_sem_seg`` (T, H0, W0) (every frame's labels at its
      original size) and ``pred_supervoxels`` (T, H0, W0) int64, ids ``0 .. K-1`` contiguous
      per clip: the argmax of the backbone's last association, upsampled to the input
      (:func:`mmsp.ops.association_to_superpixels`), with padding and flip undone as for the
      labels (:meth:`SPEncoderDecoder.restore_ids`). The clip's ``gt_sem_seg`` (T, H, W) stays
      in the sample, so that ``IoUMetric`` scores every frame and a supervoxel metric every
      clip. ``seg_logits`` are not stored (PixelData holds at most three dimensions).

    Whole-clip inference only (``test_cfg.mode='whole'``); the backbone must provide
    ``forward_with_association`` and ``cell_size`` / ``pixel_stride`` as tuples (supervoxels).

    Args:
        as :class:`SPEncoderDecoder` (``superpixel_source`` must resolve to ``'backbone'``).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.superpixel_source != 'backbone' or not callable(
                getattr(self.backbone, 'forward_with_association', None)):
            raise ValueError(f'SPVideoEncoderDecoder: the supervoxels come from the backbone; '
                             f'{type(self.backbone).__name__} needs forward_with_association '
                             f'and superpixel_source="backbone" or "auto" (got '
                             f'{self.superpixel_source!r})')

    # ------------------------------------------------------------------ features
    def _per_frame(self, feats, clip_len: int) -> List[Tensor]:
        """Backbone maps (N, C, T, h, w) to per-frame maps (N T, C, h, w), neck applied."""
        frames = []
        for f in feats:
            if f.dim() != 5 or f.shape[2] != clip_len:
                raise ValueError(f'SPVideoEncoderDecoder: the backbone must give one map per '
                                 f'frame, (N, C, {clip_len}, h, w), got {tuple(f.shape)}; use '
                                 f'unfold_outputs=True for supervoxel maps')
            frames.append(frames_to_batch(f))
        return self.neck(frames) if self.with_neck else frames

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Clips (N, 3, T, H, W) to per-frame features [(N T, C, h, w), ...]."""
        return self._per_frame(self.backbone(inputs), inputs.shape[2])

    @staticmethod
    def frame_samples(data_samples: SampleList, clip_len: int) -> SampleList:
        """One ``SegDataSample`` per frame (clip by clip) with the clip's meta and, if present,
        the frame's labels (1, H, W)."""
        frames = []
        for sample in data_samples:
            gt = sample.gt_sem_seg.data if 'gt_sem_seg' in sample else None
            if gt is not None and gt.shape[0] != clip_len:
                raise ValueError(f'SPVideoEncoderDecoder: labels {tuple(gt.shape)} for clips of '
                                 f'{clip_len} frames; expected (T, H, W)')
            for t in range(clip_len):
                frame = SegDataSample(metainfo=dict(sample.metainfo, frame_index=t))
                if gt is not None:
                    frame.gt_sem_seg = PixelData(data=gt[t:t + 1])
                frames.append(frame)
        return frames

    # ------------------------------------------------------------------ training
    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of the heads over the labelled frames of the clips.

        Args:
            inputs (Tensor): clips (N, 3, T, H, W).
            data_samples (list[SegDataSample]): per clip, ``gt_sem_seg`` (T, H, W).

        Returns:
            dict[str, Tensor]: the decode (and auxiliary) head losses.
        """
        feats = self.extract_feat(inputs)
        frames = self.frame_samples(data_samples, inputs.shape[2])
        ignore = self.decode_head.ignore_index
        labelled = [i for i, f in enumerate(frames) if bool((f.gt_sem_seg.data != ignore).any())]
        if labelled and len(labelled) < len(frames):
            index = torch.tensor(labelled, device=inputs.device)
            feats = [f.index_select(0, index) for f in feats]
            frames = [frames[i] for i in labelled]
        # no labelled frame at all: every pixel is ignored and the losses are zero
        losses = self._decode_head_forward_train(feats, frames)
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(feats, frames))
        return losses

    # ------------------------------------------------------------------ inference
    def supervoxels(self, association: Tensor, input_size: Tuple[int, int, int]) -> Tensor:
        """Hard supervoxel ids (N, T, H_in, W_in) of the network input from the backbone's
        association (N, M, 27, T, H, W)."""
        if association.dim() != 6 or association.shape[2] != 27:
            raise ValueError(f'SPVideoEncoderDecoder: association must be (N, M, 27, T, H, W), '
                             f'got {tuple(association.shape)}')
        pixel_stride = tuple(self.backbone.pixel_stride)
        upsampled = tuple(n * r for n, r in zip(association.shape[3:], pixel_stride))
        out = tuple(min(a, b) for a, b in zip(input_size, upsampled))
        ids, _ = association_to_superpixels(association, tuple(self.backbone.cell_size),
                                            pixel_stride, out_size=out,
                                            causal=getattr(self.backbone, 'causal', False))
        return resize_ids(ids, tuple(input_size[-2:]))

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Per-frame labels and the clip's supervoxels.

        Args:
            inputs (Tensor): clips (N, 3, T, H, W).
            data_samples (list[SegDataSample], optional): per clip, with meta information.

        Returns:
            list[SegDataSample]: per clip, ``pred_sem_seg`` and ``pred_supervoxels``, both
            (T, H0, W0).
        """
        if self.test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError('SPVideoEncoderDecoder: only whole-clip inference '
                             "(test_cfg.mode='whole') is supported")
        n, _, clip_len, height, width = inputs.shape
        if data_samples is None:
            meta = dict(ori_shape=(height, width), img_shape=(height, width),
                        pad_shape=(height, width), padding_size=[0, 0, 0, 0])
            data_samples = [SegDataSample(metainfo=meta) for _ in range(n)]
            restore = False
        else:
            restore = True
        frames = self.frame_samples(data_samples, clip_len)
        feats, associations = self.backbone.forward_with_association(inputs)
        feats = self._per_frame(feats, clip_len)
        seg_logits = self.decode_head.predict(feats, [f.metainfo for f in frames], self.test_cfg)
        frames = self.postprocess_result(seg_logits, frames)
        ids = self.supervoxels(associations[-1], (clip_len, height, width))
        ids = resize_ids(ids.to(seg_logits.device), tuple(seg_logits.shape[-2:]))
        for i, sample in enumerate(data_samples):
            clip_frames = frames[i * clip_len:(i + 1) * clip_len]
            labels = torch.cat([f.pred_sem_seg.data for f in clip_frames])
            sample.set_data({
                'pred_sem_seg': PixelData(data=labels),
                'pred_supervoxels': PixelData(
                    data=self.restore_ids(ids[i], sample.metainfo if restore else None))
            })
        return data_samples

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> Tensor:
        """Per-frame head outputs (N T, K, h, w) of clips (N, 3, T, H, W)."""
        return self.decode_head.forward(self.extract_feat(inputs))

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Per-frame logits (N T, K, H, W) resized to the frames' ``img_shape``."""
        frames = [meta for meta in batch_img_metas for _ in range(inputs.shape[2])]
        return self.decode_head.predict(self.extract_feat(inputs), frames, self.test_cfg)
