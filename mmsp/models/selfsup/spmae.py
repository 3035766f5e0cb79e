"""SP-MAE: masked autoencoding at the superpixel level with an SPFormer encoder.

MAE (He et al., "Masked Autoencoders Are Scalable Vision Learners", arXiv 2111.06377) masks
random patches, encodes the visible ones and reconstructs the pixels of the masked ones. With
SPFormer (Mei et al., arXiv 2401.02931) dropping superpixel tokens hides nothing: the stem and
every Superpixel Cross Attention layer read all pixels, and each stage rebuilds its superpixels
from them. SP-MAE therefore masks **in image space, before the stem**: whole superpixels of a
teacher partition are replaced by a learned colour, and only then does the student see the
image.
"""
import math
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from mmsp.ops import (SuperpixelGrid, association_weights, hard_assignment, merge_heads,
                      upsample_association)
from ..superpixel_predictors.base import inputs_to_rgb_uint8
from .cosine_ema import HostStepCosineEMA

__all__ = ['SPMAE', 'SuperpixelTeacher', 'Partition']

PARTITIONS = ('teacher', 'grid', 'slic')


class Partition(NamedTuple):
    """A partition of the image into the superpixel tokens' regions.

    Attributes:
        ids (Tensor): (B, H0, W0) int64 token (grid-cell) id of every pixel; ``ids == j`` is the
            region of token ``j``, always one of the pixel's 3x3 candidate cells.
        weights (Tensor): (B, 1, 9, H0, W0) each pixel's weights over its 9 candidate cells
            (zero outside the grid), through which the pixel head decodes it.
    """
    ids: Tensor
    weights: Tensor


class SuperpixelTeacher(nn.Module):
    """The stem, superpixel init and first-stage SCA layers of an SPFormer.

    Its output is the first stage's association: the superpixels the network forms before any
    global reasoning. :class:`SPMAE` keeps an exponential moving average of these modules of its
    student (:class:`HostStepCosineEMA`, mmpretrain's ``CosineEMA`` arithmetic) and masks the
    teacher's superpixels.

    Args:
        stem (nn.Module): the pixel stem.
        superpixel_init (nn.Module): the ``lift_avgpool`` superpixel init.
        sca (nn.ModuleList): the SCA layers of the first stage.

    Shapes:
        img: (B, 3, H0, W0) with ``H0, W0`` multiples of the stem stride -> association logits
        (B, M, 9, H0 / r, W0 / r) of the last SCA layer.
    """

    def __init__(self, stem: nn.Module, superpixel_init: nn.Module, sca: nn.ModuleList) -> None:
        super().__init__()
        self.stem, self.superpixel_init, self.sca = stem, superpixel_init, sca

    @classmethod
    def of(cls, backbone: nn.Module) -> 'SuperpixelTeacher':
        """A view that shares the modules of an SPFormer ``backbone`` (no copy)."""
        return cls(backbone.stem, backbone.superpixel_init, backbone.stages[0].sca)

    def forward(self, img: Tensor) -> Tensor:
        x = self.stem(img)
        z = self.superpixel_init(x)
        for layer in self.sca:
            x, z, association = layer(x, z)
        return association


@MODELS.register_module()
class SPMAE(BaseSelfSupervisor):
    """Superpixel-level masked autoencoder (SP-MAE) with an SPFormer encoder.

    One training step (MAE, arXiv 2111.06377, Sec. 3, with superpixels for patches):

    1. **partition** (no gradient): every pixel gets a token id ``P``. ``'teacher'``: the argmax
       of the first-stage association of an EMA copy of the student's stem and first SCA layers
       (:class:`SuperpixelTeacher`, :class:`HostStepCosineEMA`, BYOL's momentum 0.004 -> 0),
       upsampled to image size (:func:`mmsp.ops.upsample_association`) and hard-assigned to
       grid-cell ids (:func:`mmsp.ops.hard_assignment` with ``contiguous=False``), so id ``j``
       is token ``j``. ``'grid'``: square cells of ``r s`` pixels (patch MAE with the SPFormer
       encoder).
       ``'slic'``: SLIC segments (scikit-image), each mapped to the cell holding its centroid
       (clamped to the pixel's 3x3 candidates);
    2. **token mask**: per image a random ``K = round((1 - mask_ratio) N)`` of the ``N`` tokens
       stay visible (``keep_ids``, ascending);
    3. **pixel mask**: the pixels of the masked tokens, dilated by ``dilation`` pixels, take the
       learned colour ``c`` (``fill_colour``, init 0): ``x~ = where(m, c, x)``;
    4. **encoder**: :meth:`SPFormer.forward_masked` on ``x~``: SCA and unfolding on every pixel
       of the masked image, the ViT blocks on the visible tokens, ``[MASK]`` (``mask_token``)
       refilled between stages;
    5. **decoder** (neck, :class:`SPMAEDecoder`) over all ``N`` tokens, and the **pixel head**
       (:class:`SPMAEPretrainHead`): each pixel decoded through the partition's association,
       loss on the per-cell normalised pixels under the mask only.

    Nothing of the masked content reaches the encoder: its outputs do not change when the image
    changes under the mask, and their gradient there is zero. What does reach it is the
    **outline** of the masked region (it follows teacher superpixels); ``dilation`` blurs it.

    The mask token and the fill colour belong to this algorithm, not to the backbone, so the
    backbone's state dict is that of a plain ``SPFormer``: ``init_cfg=dict(type='Pretrained',
    checkpoint=..., prefix='backbone.')`` loads it into the classifier or zero-shot configs.

    Args:
        backbone (dict): an ``mmseg.SPFormer`` config (``out_type='avg_featmap'`` to match the
            classifier's keys).
        neck (dict): an :class:`SPMAEDecoder` config.
        head (dict): an :class:`SPMAEPretrainHead` config (``patch_size`` = ``r s``).
        mask_ratio (float): fraction of tokens masked, in ``[0, 1)``. Defaults to 0.75.
        partition (str): ``'teacher'`` (default), ``'grid'`` or ``'slic'``.
        dilation (int, optional): dilation of the pixel mask in image pixels (a square
            ``2 dilation + 1`` max filter); 0: none. None (default): a quarter of the cell,
            ``r s // 4``: ``r`` for SPFormer's ``s = 4`` cells, 2 px for 8-px cells. The
            masked area grows fast with it: at 75 % of 8-px grid cells masked, dilations 0, 1,
            2, 3, 4 mask 75, 83, 89, 94, 98 % of the pixels.
        teacher_momentum (float): CosineEMA start momentum. Defaults to 0.004.
        teacher_end_momentum (float): CosineEMA end momentum. Defaults to 0.
        slic_compactness (float): SLIC compactness for ``partition='slic'``. Defaults to 10.
        data_preprocessor (dict, optional): ``SelfSupDataPreprocessor`` settings.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 mask_ratio: float = 0.75,
                 partition: str = 'teacher',
                 dilation: Optional[int] = None,
                 teacher_momentum: float = 0.004,
                 teacher_end_momentum: float = 0.,
                 slic_compactness: float = 10.,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not callable(getattr(self.backbone, 'forward_masked', None)):
            raise ValueError(f'SPMAE: the backbone {type(self.backbone).__name__} has no '
                             'forward_masked(x, keep_ids, mask_token) (use mmseg.SPFormer)')
        if not 0 <= mask_ratio < 1:
            raise ValueError(f'SPMAE: mask_ratio must be in [0, 1), got {mask_ratio}')
        if partition not in PARTITIONS:
            raise ValueError(f'SPMAE: partition must be one of {PARTITIONS}, got {partition!r}')
        self.stride = self.backbone.superpixel_stride  # r s: image pixels per cell
        if getattr(self.head, 'patch_size', self.stride) != self.stride:
            raise ValueError(f'SPMAE: head.patch_size={self.head.patch_size} must equal the '
                             f'superpixel stride r s = {self.stride} of the backbone')
        dilation = self.stride // 4 if dilation is None else dilation
        if dilation < 0:
            raise ValueError(f'SPMAE: dilation must be >= 0, got {dilation}')
        self.mask_ratio, self.partition_type, self.dilation = mask_ratio, partition, dilation
        self.slic_compactness = slic_compactness
        self.fill_colour = nn.Parameter(torch.zeros(self.backbone.in_channels))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, self.backbone.embed_dims))
        self.teacher = HostStepCosineEMA(
            SuperpixelTeacher.of(self.backbone),
            momentum=teacher_momentum,
            end_momentum=teacher_end_momentum) if partition == 'teacher' else None

    def init_weights(self) -> None:
        super().init_weights()
        trunc_normal_(self.mask_token, std=.02)

    # ------------------------------------------------------------------ the steps
    @torch.no_grad()
    def partition(self, inputs: Tensor) -> Partition:
        """Step 1: token id and decoding weights of every pixel (no gradient).

        Args:
            inputs (Tensor): (B, 3, H0, W0) normalised images, ``H0, W0`` multiples of ``r s``.

        Returns:
            Partition: ids (B, H0, W0) and weights (B, 1, 9, H0, W0).
        """
        b, _, height, width = inputs.shape
        grid = SuperpixelGrid.of((height, width), self.stride)
        if self.partition_type == 'teacher':
            logits = merge_heads(self.teacher(inputs)).unsqueeze(1)  # (B, 1, 9, H0/r, W0/r)
            fine = upsample_association(logits, self.backbone.cell_size,
                                        self.backbone.pixel_stride)  # (B, 1, 9, H0, W0)
            ids, _ = hard_assignment(fine, self.stride, contiguous=False)
            return Partition(ids, association_weights(fine))
        cells = grid.cell_ids(inputs.device).expand(b, height, width)
        if self.partition_type == 'grid':
            ids = cells
        else:
            ids = torch.stack([self._slic_ids(img, grid) for img in inputs])
        candidates = cells.unsqueeze(1) + grid.neighbor_id_offsets(inputs.device).view(1, -1, 1, 1)
        valid = grid.pixel_neighbor_mask(inputs.device).unsqueeze(0)  # (1, 9, H0, W0)
        one_hot = (candidates == ids.unsqueeze(1)) & valid
        return Partition(ids, one_hot.to(inputs.dtype).unsqueeze(1))

    def _slic_ids(self, img: Tensor, grid: SuperpixelGrid) -> Tensor:
        """SLIC segments of one image mapped to the cell of their centroid, (H0, W0)."""
        from skimage.segmentation import slic
        rgb = inputs_to_rgb_uint8(img, self.data_preprocessor)
        segments = slic(
            rgb,
            n_segments=grid.num_superpixels,
            compactness=self.slic_compactness,
            start_label=0,
            channel_axis=-1)
        ys, xs = np.indices(segments.shape)
        count = np.bincount(segments.ravel()).clip(min=1)
        cy = np.bincount(segments.ravel(), ys.ravel()) / count
        cx = np.bincount(segments.ravel(), xs.ravel()) / count
        row = (cy[segments] // self.stride).astype(np.int64)
        col = (cx[segments] // self.stride).astype(np.int64)
        # the centroid's cell, moved to the nearest of the pixel's 3x3 candidate cells
        row = np.clip(row, ys // self.stride - 1, ys // self.stride + 1).clip(0, grid.rows - 1)
        col = np.clip(col, xs // self.stride - 1, xs // self.stride + 1).clip(0, grid.cols - 1)
        return torch.from_numpy(row * grid.cols + col).to(img.device)

    def random_masking(self, batch_size: int, num_tokens: int,
                       device: torch.device) -> Tuple[Tensor, Tensor]:
        """Step 2: MAE's per-image random token mask.

        Returns:
            tuple[Tensor, Tensor]: ``keep_ids`` (B, K) int64, ascending, ``K = round((1 -
            mask_ratio) N)``; ``token_mask`` (B, N) bool, True where masked.
        """
        num_keep = max(1, round((1 - self.mask_ratio) * num_tokens))
        noise = torch.rand(batch_size, num_tokens, device=device)
        keep_ids = noise.argsort(dim=1)[:, :num_keep].sort(dim=1).values
        token_mask = torch.ones(batch_size, num_tokens, dtype=torch.bool, device=device)
        token_mask.scatter_(1, keep_ids, torch.zeros_like(keep_ids, dtype=torch.bool))
        return keep_ids, token_mask

    def mask_pixels(self, ids: Tensor, token_mask: Tensor) -> Tensor:
        """Step 3a: the pixel mask, the masked tokens' pixels dilated by ``dilation``.

        Args:
            ids (Tensor): (B, H0, W0) token id of every pixel.
            token_mask (Tensor): (B, N) bool, True where masked.

        Returns:
            Tensor: (B, H0, W0) bool.
        """
        mask = token_mask.gather(1, ids.flatten(1)).view_as(ids)
        if self.dilation:
            k = 2 * self.dilation + 1
            mask = F.max_pool2d(mask[:, None].float(), k, 1, self.dilation)[:, 0] > 0
        return mask

    def encode(self, inputs: Tensor, pixel_mask: Tensor,
               keep_ids: Tensor) -> Tuple[Tensor, List[Tensor]]:
        """Steps 3b and 4: fill the masked pixels with ``c``, then the SPFormer encoder.

        Args:
            inputs (Tensor): (B, 3, H0, W0) images.
            pixel_mask (Tensor): (B, H0, W0) bool, True where masked.
            keep_ids (Tensor): (B, K) ids of the visible tokens.

        Returns:
            tuple: visible tokens (B, K, Cs) and the student's association logits per stage.
        """
        fill = self.fill_colour.view(1, -1, 1, 1).to(inputs.dtype)
        masked = torch.where(pixel_mask.unsqueeze(1), fill, inputs)
        return self.backbone.forward_masked(masked, keep_ids, self.mask_token)

    # ------------------------------------------------------------------ mmpretrain API
    def loss(self, inputs: Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """One SP-MAE step: the reconstruction loss and the masked area fraction (logged).

        Args:
            inputs (Tensor): (B, 3, H0, W0) normalised images, ``H0`` and ``W0`` multiples of
                ``r s``.
            data_samples (list[DataSample]): unused.

        Returns:
            dict[str, Tensor]: ``loss`` and ``masked_area`` (fraction of masked pixels).
        """
        b, _, height, width = inputs.shape
        if height % self.stride or width % self.stride:
            raise ValueError(f'SPMAE: images {height}x{width} must be multiples of the '
                             f'superpixel stride {self.stride}')
        if self.teacher is not None and self.training:
            self.teacher.update_parameters(SuperpixelTeacher.of(self.backbone))
        part = self.partition(inputs)
        num_tokens = math.ceil(height / self.stride) * math.ceil(width / self.stride)
        keep_ids, token_mask = self.random_masking(b, num_tokens, inputs.device)
        pixel_mask = self.mask_pixels(part.ids, token_mask)
        latent, _ = self.encode(inputs, pixel_mask, keep_ids)
        decoded = self.neck(latent, keep_ids)
        loss = self.head.loss(decoded, inputs, part.weights, pixel_mask)
        return dict(loss=loss, masked_area=pixel_mask.float().mean())
