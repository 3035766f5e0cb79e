"""Zero-shot superpixels from any association provider (e.g. an ImageNet-trained SPFormer)."""
from typing import List, Optional, Union

import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from torch import Tensor, nn

from mmsp.ops import association_to_superpixels, merge_heads
from mmsp.ops import resize_ids
from .base import BaseSuperpixelModel

__all__ = ['SuperpixelPredictor']


@MODELS.register_module()
class SuperpixelPredictor(BaseSuperpixelModel):
    """Hard superpixels from a backbone's association, with no training (zero-shot).

    The provider (``backbone``) must implement ``forward_association(img) -> (B, M, 9, H, W)``
    logits (``-inf`` = invalid candidate) and expose ``cell_size`` (superpixel cell in
    association pixels) and, optionally, ``pixel_stride`` (image pixels per association pixel;
    otherwise it is inferred as ``round(H_in / H)``, which must agree on both axes).
    :class:`mmsp.models.SPFormer` does. The logits are upsampled to image resolution inside each
    superpixel window, hard-assigned by argmax
    (:func:`mmsp.ops.association_to_superpixels`), cropped to the un-padded input, resized
    (nearest) to ``ori_shape`` and optionally made 4-connected.

    Checkpoints: the provider is stored as ``self.backbone``, so ``backbone.*`` keys of an
    mmpretrain ``ImageClassifier`` or an mmseg segmentor checkpoint load directly
    (``tools/test.py cfg ckpt`` or ``load_from``); other keys (``head.*``, ``decode_head.*``) are
    reported as unexpected and ignored.

    The paper protocol (A9): resize the image to 224x224 in the test pipeline (196 superpixels
    for a 16-px superpixel stride), upsample to stride 1, argmax, resize ids to the original size.
    Segmentors that already produce ``pred_superpixels`` (:class:`mmsp.models.SPEncoderDecoder`)
    need no wrapper: evaluate their config directly.

    Args:
        backbone (dict | nn.Module): the association provider.
        pixel_stride (int, optional): overrides the provider's / the inferred pixel stride.
        cell_size (int, optional): overrides the provider's ``cell_size``.
        association_kwargs (dict, optional): extra keyword arguments of
            ``forward_association`` (e.g. ``dict(stage=-1)``).
        return_association (bool): also store the head-merged logits (9, H, W) as
            ``pred_association`` with ``association_cell_size`` / ``association_pixel_stride``
            in the metainfo (for the visualiser). Defaults to False.
        connectivity_min_size (int, optional): see :class:`BaseSuperpixelModel`.
        data_preprocessor (dict, optional): use the provider's training normalisation (e.g.
            ImageNet mean/std, ``bgr_to_rgb=True``).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 pixel_stride: Optional[int] = None,
                 cell_size: Optional[int] = None,
                 association_kwargs: Optional[dict] = None,
                 return_association: bool = False,
                 connectivity_min_size: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor,
            connectivity_min_size=connectivity_min_size,
            init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if isinstance(backbone, dict) else backbone
        if not callable(getattr(self.backbone, 'forward_association', None)):
            raise ValueError(f'SuperpixelPredictor: {type(self.backbone).__name__} has no '
                             'forward_association(img) method')
        cell_size = cell_size if cell_size is not None else getattr(self.backbone, 'cell_size',
                                                                    None)
        if cell_size is None or int(cell_size) < 1:
            raise ValueError(f'SuperpixelPredictor: cell_size must be >= 1 (given, or the '
                             f"provider's attribute), got {cell_size!r}")
        pixel_stride = pixel_stride if pixel_stride is not None else getattr(
            self.backbone, 'pixel_stride', None)
        if pixel_stride is not None and int(pixel_stride) < 1:
            raise ValueError(f'SuperpixelPredictor: pixel_stride must be >= 1, got {pixel_stride}')
        self.cell_size = int(cell_size)
        self.pixel_stride = None if pixel_stride is None else int(pixel_stride)
        self.association_kwargs = dict(association_kwargs or {})
        self.return_association = return_association

    def superpixels_one(self, img: Tensor, meta: dict) -> Tensor:
        """Ids (h, w) of one image (runs :meth:`superpixels_batch` on a batch of one)."""
        return self.superpixels_batch(img[None], [dict(meta, padding_size=[0, 0, 0, 0])])[0]

    def _pixel_stride(self, input_size, assoc: Tensor) -> int:
        if self.pixel_stride is not None:
            return self.pixel_stride
        (in_h, in_w), (h, w) = input_size, assoc.shape[-2:]
        sh, sw = round(in_h / h), round(in_w / w)
        if sh != sw or sh < 1:
            raise ValueError(f'SuperpixelPredictor: cannot infer one pixel stride from input '
                             f'{tuple(input_size)} and association {tuple(assoc.shape)}; set '
                             'pixel_stride')
        return sh

    @torch.no_grad()
    def superpixels_batch(self, inputs: Tensor, metas: List[dict]) -> List[Tensor]:
        """Ids at the un-padded input resolution for every image of the batch."""
        assoc = self.backbone.forward_association(inputs, **self.association_kwargs)
        if assoc.dim() == 4:  # single-head providers
            assoc = assoc[:, None]
        if assoc.dim() != 5 or assoc.shape[2] != 9 or assoc.shape[0] != inputs.shape[0]:
            raise ValueError(f'SuperpixelPredictor: forward_association must return (B, M, 9, H, '
                             f'W) with B = {inputs.shape[0]}, got {tuple(assoc.shape)}')
        in_size = tuple(inputs.shape[2:])
        stride = self._pixel_stride(in_size, assoc)
        up = (assoc.shape[-2] * stride, assoc.shape[-1] * stride)
        ids, _ = association_to_superpixels(
            assoc,
            self.cell_size,
            stride,
            out_size=(min(up[0], in_size[0]), min(up[1], in_size[1])))
        ids = resize_ids(ids, in_size)  # no-op unless the provider floors odd sizes
        if self.return_association:
            merged = merge_heads(assoc.float())
            self._last_association = (merged, stride)
        return [self._crop(ids[i][None], metas[i])[0] for i in range(len(metas))]

    def predict(self, inputs: Tensor, data_samples=None):
        """As :meth:`BaseSuperpixelModel.predict`, plus ``pred_association`` if requested."""
        self._last_association = None
        samples = super().predict(inputs, data_samples)
        if self.return_association and self._last_association is not None:
            merged, stride = self._last_association
            for i, sample in enumerate(samples):
                sample.set_metainfo(
                    dict(association_cell_size=self.cell_size, association_pixel_stride=stride))
                sample.set_data({'pred_association': PixelData(data=merged[i])})
        self._last_association = None
        return samples
