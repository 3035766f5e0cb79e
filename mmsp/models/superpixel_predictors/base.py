"""Common base of the models that only predict superpixels (baselines and zero-shot wrappers)."""
from abc import abstractmethod
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor

from mmsp.ops import enforce_connectivity, relabel_contiguous, resize_ids

__all__ = ['BaseSuperpixelModel', 'inputs_to_rgb_uint8', 'check_superpixel_inputs']


def check_superpixel_inputs(inputs: Tensor, metas: Sequence[dict], owner: str) -> None:
    """Refuse a batch that cannot give meaningful superpixels, naming the images.

    Args:
        inputs (Tensor): (B, C, H, W) network inputs.
        metas (Sequence[dict]): per-image meta information (``img_path`` names the image).
        owner (str): the model, for the message.

    Raises:
        ValueError: not (B, C, H, W), an empty batch, or non-finite (NaN/inf) values: one such
            pixel makes the association NaN, whose argmax is a regular grid that would be
            scored as the model's superpixels.
    """
    if inputs.dim() != 4:
        raise ValueError(f'{owner}: expected (B, C, H, W) inputs, got {tuple(inputs.shape)}')
    if inputs.shape[0] == 0 or inputs.shape[2] == 0 or inputs.shape[3] == 0:
        raise ValueError(f'{owner}: empty batch of inputs {tuple(inputs.shape)}')
    finite = torch.isfinite(inputs).flatten(1).all(dim=1)
    if not bool(finite.all()):
        bad = [i for i in range(len(finite)) if not finite[i]]
        names = [str(metas[i].get('img_path', f'image {i} of the batch')) if i < len(metas)
                 else f'image {i} of the batch' for i in bad]
        raise ValueError(f'{owner}: non-finite (NaN/inf) input values in {", ".join(names)}; '
                         'the superpixels of such an image would be a meaningless regular grid. '
                         'Check the image file and the data preprocessor')


def inputs_to_rgb_uint8(img: Tensor, data_preprocessor) -> np.ndarray:
    """Undo the data preprocessor on one image: (C, H, W) network input -> (H, W, 3) RGB uint8.

    Normalisation is inverted with the preprocessor's ``mean``/``std`` (if it normalises). The
    images come from ``LoadImageFromFile`` in BGR order; unless the preprocessor converted them
    (``bgr_to_rgb=True``) they are flipped to RGB here. ``rgb_to_bgr=True`` on BGR images is
    treated like ``bgr_to_rgb`` (the two flags do the same flip).
    """
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f'expected a (3, H, W) image, got {tuple(img.shape)}')
    img = img.detach().float()
    if getattr(data_preprocessor, '_enable_normalize', False):
        img = img * data_preprocessor.std.to(img) + data_preprocessor.mean.to(img)
    # mmseg's SegDataPreProcessor names the flag `channel_conversion`, mmengine's `_channel_...`
    converted = getattr(data_preprocessor, 'channel_conversion',
                        getattr(data_preprocessor, '_channel_conversion', False))
    if not converted:
        img = img.flip(0)
    return img.clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy()


class BaseSuperpixelModel(BaseModel):
    """A model whose ``predict`` fills ``pred_superpixels`` at the original image size.

    Subclasses implement :meth:`superpixels_one`, which returns the ids of one image either at
    the network-input resolution (``img_shape``, padding removed) or directly at ``ori_shape``.
    This class undoes padding and flips like mmseg's ``postprocess_result``, resizes to
    ``ori_shape`` (nearest), optionally enforces 4-connectivity, and relabels ids ``0 .. K-1``.

    Subclasses that compute ids directly at ``ori_shape`` (no pixels needed, e.g. the patch
    grid) set ``predicts_at_original_size = True``.

    There is nothing to train: ``mode='loss'`` raises.

    Args:
        data_preprocessor (dict | nn.Module, optional): defaults to
            ``SegDataPreProcessor(bgr_to_rgb=True)`` (no normalisation).
        connectivity_min_size (int, optional): split disconnected superpixels and merge pieces
            smaller than this many pixels (:func:`mmsp.ops.enforce_connectivity`); ``None`` to
            keep the ids as predicted.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    #: True when :meth:`superpixels_one` returns ids at ``ori_shape``.
    predicts_at_original_size: bool = False

    def __init__(self,
                 data_preprocessor: Optional[Union[dict, torch.nn.Module]] = None,
                 connectivity_min_size: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='SegDataPreProcessor', bgr_to_rgb=True)
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if connectivity_min_size is not None and connectivity_min_size < 0:
            raise ValueError(f'connectivity_min_size must be >= 0 or None, got '
                             f'{connectivity_min_size}')
        self.connectivity_min_size = connectivity_min_size

    @abstractmethod
    def superpixels_one(self, img: Tensor, meta: dict) -> Tensor:
        """Superpixel ids (H, W) of one image.

        Args:
            img (Tensor): (C, h, w) network input with padding removed (``h, w = img_shape``).
            meta (dict): the sample's meta information (``ori_shape``, ``img_shape``, ...).

        Returns:
            Tensor: (h, w) ids at the input resolution, or (H0, W0) at ``ori_shape`` when the
            class sets ``predicts_at_original_size = True`` (then no flip or resize is applied).
        """

    def superpixels_batch(self, inputs: Tensor, metas: List[dict]) -> List[Tensor]:
        """Ids of every image (defaults to :meth:`superpixels_one` per image)."""
        return [
            self.superpixels_one(self._crop(inputs[i], metas[i]), metas[i])
            for i in range(len(metas))
        ]

    @staticmethod
    def _crop(img: Tensor, meta: dict) -> Tensor:
        # test-time padding is recorded as `img_padding_size` (as in mmseg's postprocess_result)
        pad = meta.get('img_padding_size', meta.get('padding_size', None))
        left, right, top, bottom = (int(p) for p in (pad if pad is not None else [0] * 4))
        img = img[:, top:img.shape[1] - bottom, left:img.shape[2] - right]
        if 'img_shape' in meta:
            img = img[:, :meta['img_shape'][0], :meta['img_shape'][1]]
        return img

    def _finish(self, ids: Tensor, meta: dict) -> Tensor:
        """Flip back, resize to ``ori_shape``, connectivity, contiguous ids; (1, H0, W0)."""
        ori = tuple(meta['ori_shape'][:2])
        if not self.predicts_at_original_size:
            if meta.get('flip', False):
                direction = meta.get('flip_direction')
                if direction not in ('horizontal', 'vertical'):
                    raise ValueError(f'unknown flip_direction {direction!r}')
                ids = ids.flip(dims=(1, ) if direction == 'horizontal' else (0, ))
            ids = resize_ids(ids, ori)
        elif tuple(ids.shape) != ori:
            raise ValueError(f'{type(self).__name__}: ids {tuple(ids.shape)} are not at ori_shape '
                             f'{ori}')
        if self.connectivity_min_size is not None:
            ids = torch.from_numpy(
                enforce_connectivity(ids.cpu().numpy(),
                                     self.connectivity_min_size)[0]).to(ids.device)
        return relabel_contiguous(ids[None].long())[0]  # (1, H0, W0)

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None) -> List[SegDataSample]:
        """Superpixels of a batch.

        Args:
            inputs (Tensor): (B, C, H, W) preprocessed images.
            data_samples (list[SegDataSample], optional): samples with meta information.

        Returns:
            list[SegDataSample]: each with ``pred_superpixels`` (``PixelData``, (1, H0, W0)
            int64, ids ``0 .. K-1``) at the original image size.
        """
        if inputs.dim() != 4 or inputs.shape[0] == 0:
            check_superpixel_inputs(inputs, [], type(self).__name__)
        if data_samples is None:
            shape = tuple(inputs.shape[2:])
            data_samples = [
                SegDataSample(metainfo=dict(ori_shape=shape, img_shape=shape))
                for _ in range(inputs.shape[0])
            ]
        metas = [s.metainfo for s in data_samples]
        for sample, ids in zip(data_samples, self.superpixels_batch(inputs, metas)):
            sample.set_data(
                {'pred_superpixels': PixelData(data=self._finish(ids, sample.metainfo))})
        return data_samples

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None,
                mode: str = 'predict') -> Union[List[SegDataSample], Tensor, Dict]:
        """``'predict'``: samples with ``pred_superpixels``; ``'tensor'``: (B, H0, W0) ids of a
        batch sharing one ``ori_shape``; ``'loss'``: not supported."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            samples = self.predict(inputs, data_samples)
            return torch.cat([s.pred_superpixels.data for s in samples])
        if mode == 'loss':
            raise NotImplementedError(f'{type(self).__name__} has nothing to train; use it with '
                                      'tools/test.py or tools/eval_superpixels.py')
        raise ValueError(f"invalid mode {mode!r}; expected 'predict', 'tensor' or 'loss'")
