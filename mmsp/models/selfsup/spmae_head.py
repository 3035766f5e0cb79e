"""The SP-MAE pixel head: masked pixels decoded through the superpixel association."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmpretrain.models import MAEPretrainHead
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from mmsp.ops import unfold_superpixels

__all__ = ['SPMAEPretrainHead']


@MODELS.register_module()
class SPMAEPretrainHead(MAEPretrainHead):
    """Pixel reconstruction through the association ("unfolding decoder") and MAE's loss.

    Every pixel ``p`` is predicted from the decoded tokens ``d`` of its 9 candidate cells
    ``c_n(p)``, weighted by the partition's association ``abar`` (each pixel's weights over its
    candidates, as SPFormer's unfolding, arXiv 2401.02931), and from a learned embedding
    ``e(q_p)`` of its position inside its ``patch_size x patch_size`` cell::

        y_p = Linear([ sum_n abar[p, n] d[c_n(p)] ; e(q_p) ])            (3 channels)

    The target is MAE's ``norm_pix`` (arXiv 2111.06377, Sec. 3 "Reconstruction target") with
    the cell as the patch: ``t_p = (x_p - mean_cell) / sqrt(var_cell + 1e-6)`` over the cell's
    ``patch_size**2 * 3`` values (:meth:`MAEPretrainHead.construct_target`). The loss is
    ``PixelReconstructionLoss('L2', channel=3)`` with the pixel mask:
    ``sum_p m_p ||y_p - t_p||^2 / (3 sum_p m_p)``, the masked pixels only.

    Args:
        loss (dict): ``dict(type='PixelReconstructionLoss', criterion='L2', channel=3)``.
        embed_dims (int): decoder width ``C_d``.
        patch_size (int): the cell in image pixels, the superpixel stride ``r s``.
        norm_pix (bool): per-cell normalised target. Defaults to True.
        in_channels (int): image channels. Defaults to 3.
        cell_pos_dims (int): width of the in-cell position embedding ``e``. Defaults to 32.

    Shapes:
        decoded: (B, N, C_d) on the ``h x w`` token grid; weights: (B, 1, 9, H0, W0) with
        ``H0 = h * patch_size``; forward returns (B, in_channels, H0, W0).
    """

    def __init__(self,
                 loss: dict,
                 embed_dims: int,
                 patch_size: int,
                 norm_pix: bool = True,
                 in_channels: int = 3,
                 cell_pos_dims: int = 32) -> None:
        super().__init__(
            loss=loss, norm_pix=norm_pix, patch_size=patch_size, in_channels=in_channels)
        self.embed_dims = embed_dims
        self.cell_pos_embed = nn.Parameter(torch.zeros(patch_size, patch_size, cell_pos_dims))
        self.pred = nn.Linear(embed_dims + cell_pos_dims, in_channels)

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.normal_(self.cell_pos_embed, std=.02)

    def forward(self, decoded: Tensor, weights: Tensor) -> Tensor:
        """Prediction of every pixel.

        ``Linear([u; e]) = W_d u + W_e e + b`` and ``W_d`` commutes with the weighted sum over
        the candidates, so the tokens are projected to the image channels first and then
        unfolded (:func:`mmsp.ops.unfold_superpixels`): the same values without a ``C_d``-wide
        map at image resolution.

        Args:
            decoded (Tensor): (B, N, C_d) decoder tokens.
            weights (Tensor): (B, 1, 9, H0, W0) each pixel's weights over its candidates.

        Returns:
            Tensor: (B, in_channels, H0, W0).
        """
        b, n, c = decoded.shape
        p = self.patch_size
        height, width = weights.shape[-2:]
        h, w = height // p, width // p
        if c != self.embed_dims or height % p or width % p or h * w != n:
            raise ValueError(f'{type(self).__name__}: decoded {tuple(decoded.shape)} does not '
                             f'match weights {tuple(weights.shape)} at patch size {p} with '
                             f'{self.embed_dims} channels')
        w_token, w_pos = self.pred.weight.split([c, self.cell_pos_embed.shape[-1]], dim=1)
        values = F.linear(decoded, w_token)  # (B, N, 3): W_d d_j of every token
        values = values.transpose(1, 2).reshape(b, -1, h, w)
        token_term = unfold_superpixels(weights, values, p)  # (B, 3, H0, W0)
        pos_term = F.linear(self.cell_pos_embed, w_pos, self.pred.bias)  # (p, p, 3)
        return token_term + pos_term.permute(2, 0, 1).repeat(1, h, w).to(token_term.dtype)

    def construct_target(self, target: Tensor) -> Tensor:
        """MAE's per-patch target (``norm_pix``) as an image (B, 3, H0, W0)."""
        return self.unpatchify(super().construct_target(target))

    def loss(self, decoded: Tensor, inputs: Tensor, weights: Tensor,
             pixel_mask: Optional[Tensor] = None) -> Tensor:
        """Reconstruction loss on the masked pixels.

        Args:
            decoded (Tensor): (B, N, C_d) decoder tokens.
            inputs (Tensor): (B, 3, H0, W0) the unmasked images (square, ``H0`` a multiple of
                ``patch_size``, as MAE's ``patchify`` requires).
            weights (Tensor): (B, 1, 9, H0, W0) the partition's association weights.
            pixel_mask (Tensor, optional): (B, H0, W0) bool, True where masked; None: every
                pixel counts.

        Returns:
            Tensor: the scalar loss.
        """
        height, width = inputs.shape[-2:]
        if height != width or height % self.patch_size:
            raise ValueError(f'{type(self).__name__}: images must be square with a side that is '
                             f'a multiple of {self.patch_size}, got {height}x{width}')
        pred = self.forward(decoded, weights)
        target = self.construct_target(inputs)
        mask = None if pixel_mask is None else pixel_mask.unsqueeze(1).to(pred.dtype)
        return self.loss_module(pred, target, mask)
