"""Two-level segmentor: fine and coarse classes, superpixels and groups (LGFormer)."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig, OptSampleList, SampleList
from torch import Tensor

from mmsp.ops import compose_group_association
from ..superpixel_predictors.base import check_superpixel_inputs
from .sp_encoder_decoder import SPEncoderDecoder

__all__ = ['HierSPEncoderDecoder']


@MODELS.register_module()
class HierSPEncoderDecoder(SPEncoderDecoder):
    """:class:`SPEncoderDecoder` for a two-level head: both levels, superpixels and groups.

    The segmentor of LGFormer-style models (Xie et al., arXiv 2409.01353, ECCV 2024):
    a backbone with groups (``SPFormer(group_cfg=..., out_pixels=True, out_groups=True)``) and
    a :class:`~mmsp.models.HierSPHead`. Training is :class:`SPEncoderDecoder`'s (the head
    computes ``loss_fine`` and ``loss_coarse``). :meth:`predict` stores in every sample:

    * ``seg_logits`` / ``pred_sem_seg``: the fine level, as mmseg does;
    * ``coarse_seg_logits`` / ``pred_coarse_sem_seg``: the coarse level (undone padding and
      flip, resized to ``ori_shape``, exactly as the fine level);
    * ``pred_superpixels``: hard superpixels of the head's fine association (as
      :class:`SPEncoderDecoder` with ``superpixel_source='head'``);
    * ``pred_groups``: the hard group of every pixel, ``argmax_g P(g | p)`` with
      ``P(g | p) = sum_n abar[p, n] bbar[c_n(p), g]`` (:func:`mmsp.ops.compose_group_association`:
      the coarse branch's association upsampled to the input resolution, heads merged, and the
      superpixel -> group weights of the head's ``group_layer``, heads averaged); ids
      ``0 .. K-1`` per image at ``ori_shape``;
    * ``pred_coarse_from_fine`` (with ``fine_to_coarse``): the look-up of ``pred_sem_seg``,
      the coarse prediction a one-level model makes.

    With a one-level head (e.g. :class:`~mmsp.models.SPLinearHead`) only the fine level, the
    superpixels and ``pred_coarse_from_fine`` are predicted: the flat baseline of a two-level
    comparison.

    Slide inference stitches both levels (the head's ``predict`` stacks them on channels);
    superpixels and groups then follow ``slide_superpixels`` as in :class:`SPEncoderDecoder`.

    Args:
        backbone, decode_head, neck, auxiliary_head, train_cfg, test_cfg, data_preprocessor,
            pretrained, init_cfg, superpixel_source, slide_superpixels, grid_size: as
            :class:`SPEncoderDecoder` (``superpixel_source`` defaults to ``'head'``).
        fine_to_coarse (Sequence[int], optional): coarse class of every fine class, e.g.
            :data:`mmsp.datasets.CAMVID_FINE_TO_COARSE` (entries beyond ``num_classes``, such as
            its ignore entry, are not read). Defaults to None.
    """

    def __init__(self,
                 backbone: ConfigType,
                 decode_head: ConfigType,
                 neck: OptConfigType = None,
                 auxiliary_head: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None,
                 superpixel_source: str = 'head',
                 slide_superpixels: str = 'whole',
                 grid_size: int = 64,
                 fine_to_coarse: Optional[Sequence[int]] = None) -> None:
        super().__init__(
            backbone=backbone,
            decode_head=decode_head,
            neck=neck,
            auxiliary_head=auxiliary_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            pretrained=pretrained,
            init_cfg=init_cfg,
            superpixel_source=superpixel_source,
            slide_superpixels=slide_superpixels,
            grid_size=grid_size)
        self.num_coarse_classes = getattr(self.decode_head, 'num_coarse_classes', None)
        if self.num_coarse_classes is not None:
            if self.out_channels < 2:
                raise ValueError('HierSPEncoderDecoder: a two-level head needs multi-class '
                                 f'fine logits, got out_channels={self.out_channels}')
            self.fine_channels = self.out_channels
            self.out_channels = self.fine_channels + self.num_coarse_classes  # slide stitching
        else:
            self.fine_channels = self.out_channels
        self.fine_to_coarse = None
        if fine_to_coarse is not None:
            lut = torch.as_tensor(list(fine_to_coarse), dtype=torch.long)
            if lut.dim() != 1 or len(lut) < self.num_classes or (lut[:self.num_classes] < 0).any():
                raise ValueError(f'HierSPEncoderDecoder: fine_to_coarse must give a coarse class '
                                 f'>= 0 for each of the {self.num_classes} fine classes, got '
                                 f'{fine_to_coarse!r}')
            self.fine_to_coarse = lut[:self.num_classes]

    @property
    def with_groups(self) -> bool:
        """Whether the head predicts a coarse level from groups."""
        return self.num_coarse_classes is not None

    # ------------------------------------------------------------------ groups
    def groups(self, association: Tensor, group_weights: Tensor,
               input_size: Tuple[int, int]) -> Tensor:
        """Hard group ids (B, H_in, W_in) at the network-input resolution.

        Args:
            association (Tensor): (B, M, 9, H, W) pixel -> superpixel logits.
            group_weights (Tensor): (B, Mg, N, G) superpixel -> group weights.
            input_size (tuple[int, int]): ``(H_in, W_in)``.
        """
        in_h, in_w = int(input_size[0]), int(input_size[1])
        feat_h, feat_w = association.shape[-2:]
        stride = round(in_h / feat_h)
        if stride < 1 or stride != round(in_w / feat_w):
            raise ValueError(f'HierSPEncoderDecoder: cannot infer one pixel stride from input '
                             f'{(in_h, in_w)} and association {tuple(association.shape)}')
        probs = compose_group_association(association, group_weights,
                                          self.decode_head.cell_size, stride)
        ids = probs.argmax(dim=1)[:, :in_h, :in_w]
        if ids.shape[1:] != (in_h, in_w):  # a backbone that floors odd sizes
            ids = torch.nn.functional.interpolate(ids[:, None].float(), size=(in_h, in_w),
                                                  mode='nearest')[:, 0].long()
        return ids

    # ------------------------------------------------------------------ predict
    def _whole_levels(self, inputs: Tensor, batch_img_metas: List[dict]):
        """One whole-image pass: stacked logits at the input size, fine association, and (two
        levels) the coarse association and group weights."""
        feats = self.extract_feat(inputs)
        if not self.with_groups:
            logits, association = self.decode_head.forward_with_association(feats)
            return self.decode_head.predict_by_feat(logits, batch_img_metas), association, None
        levels = self.decode_head.forward_levels(feats)
        logits = torch.cat([
            self.decode_head.predict_by_feat(levels.fine_logits, batch_img_metas),
            self.decode_head.predict_by_feat(levels.coarse_logits, batch_img_metas)
        ], dim=1)
        return logits, levels.fine_association, levels

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Predict both levels, superpixels and groups; see the class docstring.

        Args:
            inputs (Tensor): (B, 3, H, W) images.
            data_samples (list[SegDataSample], optional): samples with meta information.

        Returns:
            list[SegDataSample]: with the fields listed in the class docstring.

        Raises:
            ValueError: an empty batch, or non-finite input values (the message names the
                images).
        """
        check_superpixel_inputs(
            inputs, [s.metainfo for s in data_samples] if data_samples is not None else [],
            type(self).__name__)
        batch_img_metas = self._batch_img_metas(inputs, data_samples)
        with_maps = True
        if self._test_mode() == 'slide':
            if self.slide_superpixels == 'error':
                raise ValueError('HierSPEncoderDecoder: superpixels and groups need whole-image '
                                 "inference; set test_cfg.mode='whole' or "
                                 "slide_superpixels='whole'/'skip'")
            seg_logits = self.inference(inputs, batch_img_metas)
            with_maps = self.slide_superpixels == 'whole'
            if with_maps:
                _, association, levels = self._whole_levels(inputs, batch_img_metas)
        else:
            seg_logits, association, levels = self._whole_levels(inputs, batch_img_metas)
        fine, coarse = seg_logits[:, :self.fine_channels], seg_logits[:, self.fine_channels:]
        results = self.postprocess_result(fine, data_samples)
        restore = data_samples is not None
        if self.with_groups:
            self._attach_coarse(results, coarse, restore)
        if self.fine_to_coarse is not None:
            for sample in results:
                fine_ids = sample.pred_sem_seg.data
                lut = self.fine_to_coarse.to(fine_ids.device)
                sample.set_data({'pred_coarse_from_fine': PixelData(data=lut[fine_ids])})
        if with_maps:
            input_size = tuple(inputs.shape[2:])
            ids = self.superpixels(association, input_size, inputs.shape[0])
            self._attach_superpixels(results, ids.to(seg_logits.device),
                                     tuple(seg_logits.shape[2:]), restore)
            if self.with_groups:
                groups = self.groups(levels.coarse_association, levels.group_weights, input_size)
                self._attach_superpixels(results, groups.to(seg_logits.device),
                                         tuple(seg_logits.shape[2:]), restore, 'pred_groups')
        return results

    def _attach_coarse(self, results: SampleList, coarse: Tensor, restore: bool) -> None:
        """``coarse_seg_logits`` / ``pred_coarse_sem_seg`` through mmseg's
        ``postprocess_result`` (padding, flip and resizing undone as for the fine level)."""
        shadows = [SegDataSample(metainfo=s.metainfo) for s in results] if restore else None
        shadows = self.postprocess_result(coarse, shadows)
        for sample, shadow in zip(results, shadows):
            sample.set_data({
                'coarse_seg_logits': shadow.seg_logits,
                'pred_coarse_sem_seg': shadow.pred_sem_seg
            })
