"""EncoderDecoder that also returns hard superpixels (``pred_superpixels``) from ``predict``."""
from typing import List, Optional, Tuple

from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig, OptSampleList, SampleList
from torch import Tensor

from mmsp.ops import (SuperpixelGrid, association_to_superpixels, infer_pixel_stride,
                      relabel_contiguous, resize_ids)
from ..superpixel_predictors.base import check_superpixel_inputs

__all__ = ['SPEncoderDecoder']

_SOURCES = ('auto', 'head', 'backbone', 'grid')
_SLIDE_MODES = ('whole', 'skip', 'error')


@MODELS.register_module()
class SPEncoderDecoder(EncoderDecoder):
    """:class:`mmseg.models.EncoderDecoder` plus hard superpixels in every prediction.

    Training and tensor mode are unchanged. :meth:`predict` additionally stores
    ``pred_superpixels`` (``PixelData``, int64, shape (1, H0, W0) at the **original** image size,
    ids ``0 .. K-1`` contiguous per image) in every ``SegDataSample``, for the superpixel metric
    and the visualiser. The superpixels are the argmax of the association logits after
    upsampling them to image resolution (:func:`mmsp.ops.association_to_superpixels`); padding
    and flips are undone exactly as ``postprocess_result`` undoes them for the logits, then the
    map is resized to ``ori_shape`` with nearest interpolation and relabelled.

    Where the association comes from (``superpixel_source``):

    * ``'head'``: the decode head's ``forward_with_association(feats) -> (logits, assoc)`` and
      its ``cell_size`` (e.g. :class:`SPTransformerHead`). In whole-image mode the logits and
      the superpixels come from one forward pass.
    * ``'backbone'``: the backbone's ``forward_association(img) -> assoc`` and ``cell_size``
      (e.g. SPFormer with a stock head). A backbone that also offers
      ``forward_with_association(img) -> (outputs, [assoc of every stage])`` (SPFormer does)
      shares one pass with the logits (the last stage's association is used, as
      ``forward_association`` does by default); otherwise it costs one extra backbone pass.
    * ``'auto'`` (default): the head if it provides superpixels, else the backbone.
    * ``'grid'``: a regular grid of ``grid_size x grid_size`` input pixels (the "patch"
      baseline of SPFormer's zero-shot table), for models that have no superpixels (e.g. FCN),
      so that the superpixel metric can score a reference.

    The pixel stride (image pixels per association pixel) is computed from the input and
    association sizes (``round(H_in / H)``, equal for both axes). If the upsampled map is
    smaller than the input (backbones that floor odd sizes), it is stretched to the input size
    with nearest interpolation.

    Superpixels need **whole-image** inference: slide inference stitches logits only. With
    ``test_cfg.mode='slide'`` the logits (and mIoU) still come from slide inference, and
    ``slide_superpixels`` decides: ``'whole'`` (default) runs one extra whole-image pass for the
    superpixels, ``'skip'`` leaves ``pred_superpixels`` out, ``'error'`` raises. Test-time
    augmentation (``--tta``, ``SegTTAModel``) merges logits only and drops the field.

    Args:
        backbone, decode_head, neck, auxiliary_head, train_cfg, test_cfg, data_preprocessor,
            pretrained, init_cfg: as :class:`mmseg.models.EncoderDecoder`.
        superpixel_source (str): ``'auto'``, ``'head'``, ``'backbone'`` or ``'grid'``.
        grid_size (int): cell side in input pixels for ``superpixel_source='grid'``.
            Defaults to 64 (the SP head's default superpixel size).
        slide_superpixels (str): ``'whole'``, ``'skip'`` or ``'error'`` (see above).
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
                 superpixel_source: str = 'auto',
                 slide_superpixels: str = 'whole',
                 grid_size: int = 64) -> None:
        super().__init__(
            backbone=backbone,
            decode_head=decode_head,
            neck=neck,
            auxiliary_head=auxiliary_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            pretrained=pretrained,
            init_cfg=init_cfg)
        if superpixel_source not in _SOURCES:
            raise ValueError(f'SPEncoderDecoder: superpixel_source must be one of {_SOURCES}, '
                             f'got {superpixel_source!r}')
        if slide_superpixels not in _SLIDE_MODES:
            raise ValueError(f'SPEncoderDecoder: slide_superpixels must be one of {_SLIDE_MODES}, '
                             f'got {slide_superpixels!r}')
        if not isinstance(grid_size, int) or isinstance(grid_size, bool) or grid_size < 1:
            raise ValueError(f'SPEncoderDecoder: grid_size must be an int >= 1, got {grid_size!r}')
        self.grid_size = grid_size
        self.superpixel_source = self._resolve_source(superpixel_source)
        self.slide_superpixels = slide_superpixels

    def _resolve_source(self, source: str) -> str:
        """Check that the chosen provider exists; resolve ``'auto'``."""
        head, backbone = type(self.decode_head).__name__, type(self.backbone).__name__
        head_ok = callable(getattr(self.decode_head, 'forward_with_association', None)) and \
            hasattr(self.decode_head, 'cell_size')
        backbone_ok = callable(getattr(self.backbone, 'forward_association', None)) and \
            hasattr(self.backbone, 'cell_size')
        if source == 'auto':
            if not (head_ok or backbone_ok):
                raise ValueError(
                    f'SPEncoderDecoder: neither the decode head ({head}) has '
                    f'forward_with_association/cell_size nor the backbone ({backbone}) has '
                    "forward_association/cell_size; use superpixel_source='grid' or "
                    'EncoderDecoder for models without superpixels')
            return 'head' if head_ok else 'backbone'
        if source == 'head' and not head_ok:
            raise ValueError(f'SPEncoderDecoder: superpixel_source="head" but {head} has no '
                             'forward_with_association and cell_size')
        if source == 'backbone' and not backbone_ok:
            raise ValueError(f'SPEncoderDecoder: superpixel_source="backbone" but {backbone} has '
                             'no forward_association and cell_size')
        return source

    @property
    def superpixel_cell_size(self) -> int:
        """Cell size (in association pixels) of the superpixel provider."""
        if self.superpixel_source == 'grid':
            return self.grid_size
        provider = self.decode_head if self.superpixel_source == 'head' else self.backbone
        return int(provider.cell_size)

    # ------------------------------------------------------------------ association
    def association(self, inputs: Tensor,
                    feats: Optional[List[Tensor]] = None) -> Optional[Tensor]:
        """Association logits (B, M, 9, H, W) of a whole (batched) image; None for 'grid'."""
        if self.superpixel_source == 'grid':
            return None
        if self.superpixel_source == 'backbone':
            return self.backbone.forward_association(inputs)
        if feats is None:
            feats = self.extract_feat(inputs)
        return self.decode_head.forward_with_association(feats)[1]

    def _whole_inference_with_association(self, inputs: Tensor,
                                          batch_img_metas: List[dict]
                                          ) -> Tuple[Tensor, Optional[Tensor]]:
        """Whole-image logits (as ``whole_inference``) and association from one pass."""
        if self.superpixel_source == 'grid':
            return self.whole_inference(inputs, batch_img_metas), None
        if self.superpixel_source == 'head':
            feats = self.extract_feat(inputs)
            logits, association = self.decode_head.forward_with_association(feats)
            return self.decode_head.predict_by_feat(logits, batch_img_metas), association
        if callable(getattr(self.backbone, 'forward_with_association', None)):
            # one shared pass (SPFormer): (outputs, [association of every stage])
            feats, associations = self.backbone.forward_with_association(inputs)
            association = associations[-1]
            if self.with_neck:
                feats = self.neck(feats)
        else:
            feats = self.extract_feat(inputs)
            association = self.backbone.forward_association(inputs)
        seg_logits = self.decode_head.predict(feats, batch_img_metas, self.test_cfg)
        return seg_logits, association

    def superpixels(self, association: Optional[Tensor], input_size: Tuple[int, int],
                    batch_size: int = 1) -> Tensor:
        """Hard superpixel ids (B, H_in, W_in) at the network-input resolution.

        ``association=None`` gives the regular grid of ``grid_size`` (``'grid'`` source).
        """
        if association is None:
            grid = SuperpixelGrid.of(input_size, self.grid_size)
            return grid.cell_ids().expand(batch_size, -1, -1)
        if association.dim() != 5 or association.shape[2] != 9:
            raise ValueError(f'SPEncoderDecoder: association must be (B, M, 9, H, W), got '
                             f'{tuple(association.shape)}')
        in_h, in_w = int(input_size[0]), int(input_size[1])
        feat_h, feat_w = association.shape[-2:]
        stride = infer_pixel_stride((in_h, in_w), (feat_h, feat_w), 'SPEncoderDecoder')
        out = (min(in_h, feat_h * stride), min(in_w, feat_w * stride))
        ids, _ = association_to_superpixels(association, self.superpixel_cell_size, stride,
                                            out_size=out)
        return resize_ids(ids, (in_h, in_w))

    # ------------------------------------------------------------------ predict
    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Predict logits, labels and superpixels; see the class docstring.

        Args:
            inputs (Tensor): (B, 3, H, W) images.
            data_samples (list[SegDataSample], optional): samples with meta information.

        Returns:
            list[SegDataSample]: with ``seg_logits``, ``pred_sem_seg`` and ``pred_superpixels``.

        Raises:
            ValueError: an empty batch, or non-finite input values (the message names the
                images; :func:`~mmsp.models.superpixel_predictors.base.check_superpixel_inputs`).
        """
        check_superpixel_inputs(
            inputs, [s.metainfo for s in data_samples] if data_samples is not None else [],
            type(self).__name__)
        batch_img_metas = self._batch_img_metas(inputs, data_samples)
        if self._test_mode() == 'slide':
            if self.slide_superpixels == 'error':
                raise ValueError('SPEncoderDecoder: superpixels need whole-image inference; set '
                                 "test_cfg.mode='whole' or slide_superpixels='whole'/'skip'")
            seg_logits = self.inference(inputs, batch_img_metas)
            with_superpixels = self.slide_superpixels == 'whole'
            association = self.association(inputs) if with_superpixels else None
        else:
            with_superpixels = True
            seg_logits, association = self._whole_inference_with_association(
                inputs, batch_img_metas)
        results = self.postprocess_result(seg_logits, data_samples)
        if with_superpixels:
            ids = self.superpixels(association, tuple(inputs.shape[2:]), inputs.shape[0])
            ids = ids.to(seg_logits.device)
            self._attach_superpixels(results, ids, tuple(seg_logits.shape[2:]),
                                     data_samples is not None)
        return results

    @staticmethod
    def restore_ids(ids: Tensor, meta: Optional[dict]) -> Tensor:
        """Ids (..., H, W) of the padded network input back at the original size.

        Undoes padding and flip as ``postprocess_result`` does for the logits, resizes to
        ``ori_shape`` (nearest) and relabels ``0 .. K-1``. ``meta=None`` only relabels. Works
        for an image (H, W) and a clip (T, H, W) alike.
        """
        if meta is not None:
            height, width = ids.shape[-2:]
            padding = meta.get('img_padding_size', meta.get('padding_size', [0] * 4))
            left, right, top, bottom = padding
            ids = ids[..., top:height - bottom, left:width - right]
            if meta.get('flip', None):
                direction = meta.get('flip_direction', None)
                if direction not in ('horizontal', 'vertical'):
                    raise ValueError(f'SPEncoderDecoder: unknown flip_direction {direction!r}')
                ids = ids.flip(dims=(-1, ) if direction == 'horizontal' else (-2, ))
            ids = resize_ids(ids, tuple(meta['ori_shape'][:2]))
        return relabel_contiguous(ids[None])[0][0].long()

    @staticmethod
    def _batch_img_metas(inputs: Tensor, data_samples: OptSampleList) -> List[dict]:
        """The samples' meta information, or that of unpadded inputs without samples."""
        if data_samples is not None:
            return [data_sample.metainfo for data_sample in data_samples]
        return [
            dict(
                ori_shape=inputs.shape[2:],
                img_shape=inputs.shape[2:],
                pad_shape=inputs.shape[2:],
                padding_size=[0, 0, 0, 0])
        ] * inputs.shape[0]

    def _test_mode(self) -> str:
        """``test_cfg.mode``: ``'whole'`` (default) or ``'slide'``."""
        mode = self.test_cfg.get('mode', 'whole')
        if mode not in ('whole', 'slide'):
            raise ValueError(f'{type(self).__name__}: test_cfg.mode must be "whole" or "slide", '
                             f'got {mode!r}')
        return mode

    def _attach_superpixels(self,
                            results: SampleList,
                            ids: Tensor,
                            logits_size: Tuple[int, int],
                            restore: bool,
                            field: str = 'pred_superpixels') -> None:
        """Id maps (B, H, W) of the network input as ``PixelData`` in the field ``field`` of
        every sample, restored to the original image (:meth:`restore_ids`) if ``restore``."""
        ids = resize_ids(ids, tuple(logits_size))
        for i, sample in enumerate(results):
            sp = self.restore_ids(ids[i], sample.metainfo if restore else None)
            sample.set_data({field: PixelData(data=sp)})
