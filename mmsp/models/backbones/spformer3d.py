"""SPFormer3D: SPFormer over clips, with supervoxels instead of superpixels."""
import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from .spformer import _DEFAULT_INIT, SPFormer
from .spformer_arch import resolve_stride

__all__ = ['SPFormer3D', 'inflate_kernel']

_DEFAULT_INIT_3D = copy.deepcopy(_DEFAULT_INIT)
_DEFAULT_INIT_3D[1]['layer'] = ['Conv2d', 'Conv3d']


def inflate_kernel(weight: Tensor, depth: int) -> Tensor:
    """A 2-D conv kernel (O, I, kh, kw) as the centre slice of a zero (O, I, depth, kh, kw) one.

    On a clip this is the 2-D conv applied frame by frame wherever the temporal neighbours are
    zero, e.g. on a one-frame clip. With ``depth = 1`` (1x1 convs) the kernel is only reshaped.
    """
    if weight.dim() != 4 or depth < 1 or depth % 2 == 0:
        raise ValueError(f'inflate_kernel: expected a (O, I, kh, kw) kernel and an odd depth, got '
                         f'{tuple(weight.shape)} and {depth}')
    out = weight.new_zeros(weight.shape[:2] + (depth, ) + weight.shape[2:])
    out[:, :, depth // 2] = weight
    return out


@MODELS.register_module()
class SPFormer3D(SPFormer):
    """SPFormer over clips (N, C, T, H, W): supervoxel tokens with a 27-candidate association.

    The image model (:class:`SPFormer`, Mei et al., arXiv 2401.02931) with every superpixel cell
    ``s x s`` replaced by a space-time cell ``s_t x s x s``:

    * the stem embeds every frame with the image stem (temporal pixel stride ``r_t = 1``:
      one pixel-branch map per frame, as the per-frame labels need);
    * the supervoxel init averages ``s_t x s x s`` cells;
    * the SCA layers and the unfolding of every stage associate each voxel with the supervoxels
      of its 27 neighbouring cells (:mod:`mmsp.ops.association`; 8/12/18/27 valid at corners,
      edges, faces and inside; 18 with ``causal``), with depthwise 3x3x3 position encodings;
    * the ViT blocks attend jointly over all ``t_s * h_s * w_s`` supervoxel tokens, which carry
      a factorised position embedding (learned spatial + learned temporal, each interpolated;
      :class:`SPFormerStage`).

    With cubes instead of squares the tokens fall by ``s_t`` against per-frame superpixels,
    global attention by ``s_t ** 2``.

    **Inflation.** ``load_state_dict`` (and ``init_cfg=dict(type='Pretrained', ...)``) accepts
    the state of an image :class:`SPFormer` of the same arch: every 2-D kernel of a layer that
    is 3-D here becomes the centre temporal slice of a zero kernel (:func:`inflate_kernel`;
    1x1 convs are reused as they are), the stem is the image stem, and the missing temporal
    position embeddings start at zero. The dot-product association needs no new weights for the
    18 extra candidates, so an inflated image model gives supervoxels zero-shot, and on a
    one-frame clip it computes the image model.

    Superpixel provider: :meth:`forward_association` (B, M, 27, T, H, W) logits of one stage,
    :meth:`forward_with_association`, :meth:`forward_supervoxels` (hard ids at clip size).

    Args:
        arch (str | dict): as :class:`SPFormer`.
        superpixel_stride (Sequence[int]): supervoxel cell in input voxels, ``(s_t, r s, r s)``.
            Defaults to ``(2, 16, 16)``: cells of 2 frames x 16 x 16 pixels.
        img_size (Sequence[int]): training clip size ``(T, H, W)``; fixes the position
            embedding grids ``ceil(img_size / superpixel_stride)``. Defaults to (8, 224, 224).
        causal (bool): a voxel's candidates exclude the next temporal cell (18 of 27), so that
            no voxel is assigned to a supervoxel that starts after it. Defaults to False.
        init_cfg (dict | list, optional): as :class:`SPFormer`, with Kaiming for Conv3d too.
        **kwargs: the other arguments of :class:`SPFormer` (``in_channels``, ``stem_type``,
            ``sp_iter``, ``depths``, ``out_indices``, ``out_type``, ``unfold_outputs``, ...).

    Attributes:
        pixel_stride (tuple[int]): ``(r_t, r, r) = (1, r, r)``, input voxels per pixel-branch
            voxel.
        cell_size (tuple[int]): ``(s_t, s, s)``, supervoxel cell in pixel-branch voxels.
    """

    spatial_dims = 3

    def __init__(self,
                 arch: Union[str, Dict] = 'small',
                 superpixel_stride: Sequence[int] = (2, 16, 16),
                 img_size: Sequence[int] = (8, 224, 224),
                 causal: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = _DEFAULT_INIT_3D,
                 **kwargs) -> None:
        self.causal = bool(causal)  # read by SPFormer.__init__ when it builds the stages
        super().__init__(arch, superpixel_stride, img_size, init_cfg=init_cfg, **kwargs)
        self._register_load_state_dict_pre_hook(self._inflate_hook)

    @staticmethod
    def _geometry(superpixel_stride: Sequence[int], stem_type: Optional[str],
                  img_size: Sequence[int]):
        """``(stem_type, (1, r, r), (s_t, s, s), (T, H, W), pos_grid)`` of a clip model."""
        stride = tuple(superpixel_stride) if isinstance(superpixel_stride, (tuple, list)) else ()
        if len(stride) != 3 or stride[1] != stride[2] or any(
                not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in stride):
            raise ValueError(f'SPFormer3D: superpixel_stride must be (s_t, S, S), positive ints '
                             f'with square cells, got {superpixel_stride!r}')
        stem_type, r, s = resolve_stride(stride[1], stem_type)
        size = tuple(img_size) if isinstance(img_size, (tuple, list)) else ()
        if len(size) != 3 or any(not isinstance(v, int) or v < 1 for v in size):
            raise ValueError(f'SPFormer3D: img_size must be the clip size (T, H, W), '
                             f'got {img_size!r}')
        pos_grid = tuple(math.ceil(v / c) for v, c in zip(size, stride))
        return stem_type, (1, r, r), (stride[0], s, s), size, pos_grid

    # ------------------------------------------------------------------ embedding
    def _pad(self, x: Tensor) -> Tensor:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f'SPFormer3D: expected clips (N, {self.in_channels}, T, H, W), '
                             f'got {tuple(x.shape)}')
        r = self.pixel_stride[-1]
        pad_h, pad_w = -x.shape[3] % r, -x.shape[4] % r
        return F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x

    def _embed(self, x: Tensor) -> Tensor:
        """Clips (N, C, T, H0, W0) to the pixel branch (N, Cp, T, ceil(H0/r), ceil(W0/r)): the
        image stem on every frame."""
        x = self._pad(x)
        n, t = x.shape[0], x.shape[2]
        frames = self.stem(x.transpose(1, 2).flatten(0, 1))  # (N T, Cp, H, W)
        return frames.unflatten(0, (n, t)).transpose(1, 2)

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Clips (N, C, T, H0, W0) to the tuple of outputs selected by ``out_indices``.

        ``featmap``: (N, Cs, ceil(T/s_t), ceil(H0/(r s)), ceil(W0/(r s))) each, or
        (N, Cs, T, ceil(H0/r), ceil(W0/r)) with ``unfold_outputs`` (one map per frame);
        ``avg_featmap``: (N, Cs); with ``out_pixels`` the pixel map (N, Cp, T, H, W) first.
        """
        return self.forward_with_association(x)[0]

    def forward_with_association(self, x: Tensor) -> Tuple[Tuple[Tensor, ...], List[Tensor]]:
        """Outputs as :meth:`forward` plus the association logits of every stage.

        Args:
            x (Tensor): clips (N, in_channels, T, H0, W0), any size.

        Returns:
            tuple: ``(outs, associations)``; ``associations[k]`` (N, M_k, 27, T, ceil(H0/r),
            ceil(W0/r)), ``-inf`` at invalid candidates.
        """
        return super().forward_with_association(x)

    def forward_supervoxels(self, x: Tensor, stage: int = -1) -> Tuple[Tensor, Tensor]:
        """Hard supervoxels of ``stage`` at clip resolution.

        ``id(v) = cell(g(v)) + Δ[n*]`` with ``n*`` the argmax of the stage's association,
        upsampled frame by frame to the input size (:func:`mmsp.ops.association_to_superpixels`).

        Args:
            x (Tensor): clips (N, in_channels, T0, H0, W0).
            stage (int): stage index (negative allowed). Defaults to the last stage.

        Returns:
            tuple[Tensor, Tensor]: ids (N, T0, H0, W0) int64, contiguous per clip, and the number
            of supervoxels per clip (N,).
        """
        return self.forward_superpixels(x, stage)

    # ------------------------------------------------------------------ inflation
    def _inflate_hook(self, state_dict: Dict, prefix: str, *args, **kwargs) -> None:
        """Inflate the 2-D kernels of an image SPFormer's state; zero temporal embeddings."""
        inflated = False
        for name, param in self.named_parameters():
            key = prefix + name
            value = state_dict.get(key)
            if value is not None and param.dim() == 5 and value.dim() == 4:
                state_dict[key] = inflate_kernel(value, param.shape[2])
                inflated = True
        if inflated:
            for k, stage in enumerate(self.stages):
                state_dict.setdefault(f'{prefix}stages.{k}.temporal_pos_embed',
                                      torch.zeros_like(stage.temporal_pos_embed))


try:  # mmaction2's registry, for its recognisers, only when it is installed
    from mmaction.registry import MODELS as MMACTION_MODELS
except ImportError:
    MMACTION_MODELS = None
if MMACTION_MODELS is not None and 'SPFormer3D' not in MMACTION_MODELS.module_dict:
    MMACTION_MODELS.register_module(module=SPFormer3D)
