"""Per-superpixel linear classifier projected to pixels through the association (SPFormer)."""
from typing import Dict, List, Sequence, Tuple

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor

from mmsp.ops import merge_heads, unfold_with_logits
from ..utils import SuperpixelCrossAttention, build_norm

__all__ = ['SPLinearHead']


@MODELS.register_module()
class SPLinearHead(BaseDecodeHead):
    """Classify every superpixel token, then project the logits to the pixels.

    The dense-prediction rule of SPFormer (Mei et al., arXiv 2401.02931, Sec. 3.2): logits
    ``L_j = W LN(z_j)`` per superpixel, and per pixel ``Y_p = sum_n softmax_n(Abar_p)_n
    L_{c_n(p)}`` over its 9 candidate superpixels, with ``Abar`` the association logits with
    the heads merged (``sum / sqrt(M)``). As in LGFormer (Xie et al., arXiv 2409.01353, ECCV
    2024; its "extra stage" of the authors' code), the association comes from one more
    :class:`~mmsp.models.utils.SuperpixelCrossAttention` layer run on the backbone's final pixel
    map and tokens, so it reflects the final tokens rather than those at the start of the last
    stage:

    1. ``(Z', A) = SCA(X, Z)`` (no pixel update);
    2. ``L = conv_seg(dropout(LN2d(Z')))`` on the superpixel grid;
    3. ``Y = unfold(softmax_9(merge_heads(A)), L)`` at the pixel-map resolution (stride ``r``).

    mmseg's ``predict_by_feat`` / ``loss_by_feat`` resize ``Y`` to the image / labels as usual.

    Args:
        in_channels (Sequence[int]): ``(Cp, Cs)``, the widths of the pixel map and of the
            superpixel map (e.g. ``SPFormer(out_pixels=True)``: the pixel map comes first).
        channels (int): classifier input width; must equal ``Cs``.
        in_index (Sequence[int]): backbone output indices of the pixel and superpixel maps.
            Defaults to ``(0, 1)``.
        cell_size (int): superpixel cell size ``s`` in pixel-map pixels (SPFormer's
            :attr:`cell_size`). Defaults to 4.
        association_heads (int): heads of the SCA layer. Defaults to 2.
        layer_scale_init (float): LayerScale of its superpixel update. Defaults to 1e-5.
        sca_norm_cfg (dict): norm after its qkv projections. Defaults to ``LN2d`` (eps 1e-6).
        **kwargs: :class:`BaseDecodeHead` arguments (``num_classes``, ``dropout_ratio``,
            ``loss_decode``, ``ignore_index``, ...). ``input_transform`` is fixed to
            ``'multiple_select'``.

    Shapes:
        - inputs: backbone outputs; ``inputs[in_index[0]]`` pixels (B, Cp, H, W),
          ``inputs[in_index[1]]`` superpixels (B, Cs, ceil(H / s), ceil(W / s)).
        - :meth:`forward`: logits (B, num_classes, H, W).
        - :meth:`forward_with_association`: logits and the association logits (B, M, 9, H, W)
          (superpixel-provider contract of :class:`~mmsp.models.SPEncoderDecoder`).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int,
                 *,
                 in_index: Sequence[int] = (0, 1),
                 cell_size: int = 4,
                 association_heads: int = 2,
                 layer_scale_init: float = 1e-5,
                 sca_norm_cfg: Dict = dict(type='LN2d', eps=1e-6),
                 **kwargs) -> None:
        name = type(self).__name__
        if 'input_transform' in kwargs:
            raise ValueError(f'{name}: input_transform is fixed (multiple_select); do not pass '
                             f'it (got {kwargs["input_transform"]!r})')
        in_channels = ([int(c) for c in in_channels]
                       if isinstance(in_channels, (list, tuple)) else [])
        in_index = list(in_index) if isinstance(in_index, (list, tuple)) else []
        if len(in_channels) != 2 or len(in_index) != 2:
            raise ValueError(f'{name}: in_channels and in_index must be (pixels, superpixels) '
                             f'pairs, got {in_channels!r} and {in_index!r}')
        if channels != in_channels[1]:
            raise ValueError(f'{name}: channels={channels} must equal the superpixel width '
                             f'in_channels[1]={in_channels[1]} (the classifier reads the tokens)')
        if not isinstance(cell_size, int) or isinstance(cell_size, bool) or cell_size < 1:
            raise ValueError(f'{name}: cell_size must be an int >= 1, got {cell_size!r}')
        super().__init__(
            in_channels, channels, in_index=in_index, input_transform='multiple_select', **kwargs)
        self.cell_size = cell_size
        self.association_heads = association_heads
        self.layer_scale_init, self.sca_norm_cfg = layer_scale_init, sca_norm_cfg
        self.sca = self._association_layer()
        self.cls_norm = build_norm(dict(type='LN2d', eps=1e-6), channels)

    def _association_layer(self) -> SuperpixelCrossAttention:
        """One SCA layer on the (pixels, superpixels) of the backbone, without pixel update."""
        return SuperpixelCrossAttention(
            self.in_channels[0],
            self.in_channels[1],
            num_heads=self.association_heads,
            stride=self.cell_size,
            norm_cfg=self.sca_norm_cfg,
            layer_scale_init=self.layer_scale_init,
            update_pixels=False)

    def _pixels_and_superpixels(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f'{type(self).__name__}: expected a tuple/list of backbone outputs, '
                             f'got {type(inputs).__name__}')
        for i in self.in_index:
            if not -len(inputs) <= i < len(inputs):
                raise ValueError(f'{type(self).__name__}: in_index={self.in_index} but the '
                                 f'backbone gave only {len(inputs)} outputs')
        return self._transform_inputs(inputs)

    def project_logits(self, superpixel_logits: Tensor, association: Tensor) -> Tensor:
        """Per-pixel logits (B, K, H, W) from superpixel logits (B, K, h, w) and association
        logits (B, M, 9, H, W) (heads merged, softmax over the 9 candidates)."""
        merged = merge_heads(association).unsqueeze(1)  # (B, 1, 9, H, W)
        return unfold_with_logits(merged, superpixel_logits, self.cell_size)

    def classify(self, x: Tensor, z: Tensor, sca: SuperpixelCrossAttention,
                 norm, conv_seg) -> Tuple[Tensor, Tensor]:
        """Steps 1-3 with the given layers: pixel logits (B, K, H, W) and association."""
        _, z, association = sca(x, z)
        superpixel_logits = conv_seg(self.dropout(norm(z)) if self.dropout else norm(z))
        return self.project_logits(superpixel_logits, association), association

    def forward_with_association(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Logits (B, K, H, W) and the association logits (B, M, 9, H, W) behind them."""
        x, z = self._pixels_and_superpixels(inputs)
        return self.classify(x, z, self.sca, self.cls_norm, self.conv_seg)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Per-pixel logits (B, K, H, W) at the pixel-map resolution."""
        return self.forward_with_association(inputs)[0]
