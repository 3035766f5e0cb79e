"""Two-level decode head: fine classes from superpixels, coarse classes from groups (LGFormer)."""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor, nn

from mmsp.ops import heads_weighted_sum
from ..utils import build_norm
from .sp_linear_head import SPLinearHead

__all__ = ['HierSPHead', 'HierOutputs']


class HierOutputs(NamedTuple):
    """What :meth:`HierSPHead.forward_levels` computes.

    Attributes:
        fine_logits (Tensor): (B, K_fine, H, W) pixel logits of the fine classes.
        coarse_logits (Tensor): (B, K_coarse, H, W) pixel logits of the coarse classes.
        fine_association (Tensor): (B, M, 9, H, W) association logits of the fine branch.
        coarse_association (Tensor): (B, M, 9, H, W) association logits of the coarse branch.
        group_weights (Tensor): (B, Mg, h*w, G) superpixel -> group weights of the GCA layer
            that defines the hard groups (``group_layer``).
    """
    fine_logits: Tensor
    coarse_logits: Tensor
    fine_association: Tensor
    coarse_association: Tensor
    group_weights: Tensor


@MODELS.register_module()
class HierSPHead(SPLinearHead):
    """Fine (part) logits from superpixels and coarse (object) logits from groups (LGFormer).

    LGFormer (Xie et al., arXiv 2409.01353, ECCV 2024, Sec. 3; the upsampling follows the
    authors' code) predicts both levels through the associations, coarse to fine:

    * **fine**: as :class:`SPLinearHead` on the superpixel tokens ``Z``: ``(Z', A_f) =
      SCA_f(X, Z)``, ``P = conv_seg(LN2d(Z'))``, projected to pixels through ``A_f``;
    * **groups -> superpixels**: ``F_j = sum_l concat_m sum_g b_l[m, j, g] Q2_l[g]_m``, the
      group tokens ``Q2_l`` of every GCA layer ``l`` carried back to the superpixels by its
      association ``b_l`` (:func:`mmsp.ops.heads_weighted_sum`), summed over the layers;
    * **coarse**: the same on ``F`` with its own layers: ``(F', A_c) = SCA_c(X, F)``,
      ``O = conv_seg_coarse(LN2d(F'))``, projected to pixels through ``A_c``.

    Losses: ``loss_fine`` (``loss_decode``, against ``gt_sem_seg``) and ``loss_coarse``
    (against ``gt_coarse_sem_seg``, e.g. from :class:`~mmsp.datasets.transforms.MapLabels`),
    both cross-entropy with weight 1.0 by default (the authors' best configuration); a coarse
    ``loss_weight`` of 0 trains the groups without coarse labels. The hard group of a pixel is
    ``argmax_g P(g | p)`` of :func:`mmsp.ops.compose_group_association` on ``A_c`` and the
    weights of GCA layer ``group_layer`` (heads averaged), see
    :class:`~mmsp.models.HierSPEncoderDecoder`.

    Args:
        in_channels (Sequence[int]): ``(Cp, Cs)`` of the pixel and superpixel maps.
        channels (int): ``Cs``.
        num_coarse_classes (int): coarse classes ``K_coarse``.
        loss_coarse (dict | Sequence[dict]): coarse loss(es). Defaults to cross-entropy with
            weight 1.0 named ``loss_coarse``.
        group_layer (int): the GCA layer (index, negative allowed) whose association defines
            the hard groups. Defaults to -1 (the last).
        **kwargs: :class:`SPLinearHead` arguments; ``loss_decode`` is the fine loss and
            defaults to cross-entropy with weight 1.0 named ``loss_fine``.

    Shapes:
        - inputs: backbone outputs, e.g. of ``SPFormer(out_pixels=True, out_groups=True)``:
          ``inputs[in_index[0]]`` pixels (B, Cp, H, W), ``inputs[in_index[1]]`` superpixels
          (B, Cs, h, w), and, last, the group tokens (B, L, G, Cs) and the superpixel -> group
          weights (B, L, Mg, h*w, G) of the ``L`` GCA layers.
        - :meth:`forward`: ``(fine logits (B, K_fine, H, W), coarse logits (B, K_coarse, H, W))``.
        - :meth:`predict`: (B, K_fine + K_coarse, H_img, W_img), the two levels on channels.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int,
                 *,
                 num_coarse_classes: int,
                 loss_coarse=dict(
                     type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                     loss_name='loss_coarse'),
                 group_layer: int = -1,
                 loss_decode=dict(
                     type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                     loss_name='loss_fine'),
                 **kwargs) -> None:
        super().__init__(in_channels, channels, loss_decode=loss_decode, **kwargs)
        if not isinstance(num_coarse_classes, int) or num_coarse_classes < 2:
            raise ValueError(f'HierSPHead: num_coarse_classes must be an int >= 2, got '
                             f'{num_coarse_classes!r}')
        self.num_coarse_classes = num_coarse_classes
        self.group_layer = int(group_layer)
        losses = loss_coarse if isinstance(loss_coarse, (list, tuple)) else [loss_coarse]
        self.loss_coarse = nn.ModuleList(MODELS.build(cfg) for cfg in losses)
        self.coarse_sca = self._association_layer()
        self.coarse_norm = build_norm(dict(type='LN2d', eps=1e-6), channels)
        self.conv_seg_coarse = nn.Conv2d(channels, num_coarse_classes, kernel_size=1)

    def init_weights(self) -> None:
        first_call = not self._is_init
        super().init_weights()
        if first_call and self.init_cfg is None:  # as mmseg's default for conv_seg
            nn.init.normal_(self.conv_seg_coarse.weight, mean=0, std=0.01)
            nn.init.zeros_(self.conv_seg_coarse.bias)

    # ------------------------------------------------------------------ forward
    def _group_inputs(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """The last two backbone outputs: group tokens (B, L, G, C), weights (B, L, Mg, N, G)."""
        if len(inputs) < 4:
            raise ValueError(f'HierSPHead: expected the backbone outputs to end with the group '
                             f'tokens and associations (SPFormer(group_cfg=..., '
                             f'out_groups=True)), got {len(inputs)} outputs')
        tokens, weights = inputs[-2], inputs[-1]
        if tokens.dim() != 4 or weights.dim() != 5 or tokens.shape[:3] != (
                weights.shape[0], weights.shape[1], weights.shape[-1]) or \
                tokens.shape[-1] != self.channels:
            raise ValueError(f'HierSPHead: group tokens {tuple(tokens.shape)} and associations '
                             f'{tuple(weights.shape)} must be (B, L, G, {self.channels}) and '
                             f'(B, L, Mg, h*w, G)')
        return tokens, weights

    @staticmethod
    def groups_to_superpixels(group_tokens: Tensor, group_weights: Tensor,
                              grid: Tuple[int, int]) -> Tensor:
        """``F_j = sum_l concat_m sum_g b_l[m, j, g] Q2_l[g]_m`` as a map (B, C, h, w).

        Args:
            group_tokens (Tensor): (B, L, G, C) group tokens ``Q2_l``.
            group_weights (Tensor): (B, L, Mg, h*w, G) superpixel -> group weights ``b_l``.
            grid (tuple[int, int]): the superpixel grid ``(h, w)``.
        """
        b, num_layers, _, c = group_tokens.shape
        feats = sum(
            heads_weighted_sum(group_weights[:, i], group_tokens[:, i])
            for i in range(num_layers))  # (B, h*w, C)
        return feats.transpose(1, 2).reshape(b, c, *grid)

    def forward_levels(self, inputs: Sequence[Tensor]) -> HierOutputs:
        """Both levels' pixel logits and the associations behind them (see the class doc)."""
        x, z = self._pixels_and_superpixels(inputs)
        group_tokens, group_weights = self._group_inputs(inputs)
        if group_weights.shape[3] != z.shape[2] * z.shape[3]:
            raise ValueError(f'HierSPHead: {group_weights.shape[3]} superpixels in the group '
                             f'associations, {tuple(z.shape[2:])} in the superpixel map')
        if not -group_weights.shape[1] <= self.group_layer < group_weights.shape[1]:
            raise ValueError(f'HierSPHead: group_layer={self.group_layer} but the backbone has '
                             f'{group_weights.shape[1]} GCA layers')
        fine, fine_assoc = self.classify(x, z, self.sca, self.cls_norm, self.conv_seg)
        feats = self.groups_to_superpixels(group_tokens, group_weights, tuple(z.shape[2:]))
        coarse, coarse_assoc = self.classify(x, feats.to(z.dtype), self.coarse_sca,
                                             self.coarse_norm, self.conv_seg_coarse)
        return HierOutputs(fine, coarse, fine_assoc, coarse_assoc,
                           group_weights[:, self.group_layer])

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """``(fine logits (B, K_fine, H, W), coarse logits (B, K_coarse, H, W))``."""
        levels = self.forward_levels(inputs)
        return levels.fine_logits, levels.coarse_logits

    # ------------------------------------------------------------------ loss / predict
    def _level_loss(self, logits: Tensor, label: Tensor, losses: nn.ModuleList,
                    acc_name: str) -> Dict[str, Tensor]:
        """mmseg's ``loss_by_feat`` for one level: resize to the labels, sum the losses by
        name, plus the pixel accuracy ``acc_name``."""
        logits = resize(logits, size=label.shape[2:], mode='bilinear',
                        align_corners=self.align_corners)
        weight = self.sampler.sample(logits, label) if self.sampler is not None else None
        label = label.squeeze(1)
        out: Dict[str, Tensor] = {}
        for loss in losses:
            value = loss(logits, label, weight=weight, ignore_index=self.ignore_index)
            out[loss.loss_name] = out[loss.loss_name] + value if loss.loss_name in out else value
        out[acc_name] = accuracy(logits, label, ignore_index=self.ignore_index)
        return out

    @staticmethod
    def _stack_field(samples: SampleList, field: str) -> Tensor:
        missing = [s.metainfo.get('img_path', i) for i, s in enumerate(samples) if field not in s]
        if missing:
            raise KeyError(f'HierSPHead: samples {missing} have no {field!r}; coarse labels come '
                           'from MapLabels + PackSegInputsWithMaps (mmsp.datasets.transforms)')
        return torch.stack([s.get(field).data for s in samples], dim=0)

    def loss_by_feat(self, seg_logits: Tuple[Tensor, Tensor],
                     batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """``loss_fine`` + ``acc_seg`` on ``gt_sem_seg``, ``loss_coarse`` + ``acc_coarse`` on
        ``gt_coarse_sem_seg``.

        Args:
            seg_logits (tuple[Tensor, Tensor]): fine and coarse logits of :meth:`forward`.
            batch_data_samples (list[SegDataSample]): with both label maps.
        """
        fine, coarse = seg_logits
        losses_fine = self.loss_decode if isinstance(self.loss_decode,
                                                     nn.ModuleList) else [self.loss_decode]
        out = self._level_loss(fine, self._stack_field(batch_data_samples, 'gt_sem_seg'),
                               losses_fine, 'acc_seg')
        coarse_losses = self._level_loss(
            coarse, self._stack_field(batch_data_samples, 'gt_coarse_sem_seg'), self.loss_coarse,
            'acc_coarse')
        clash = set(out) & set(coarse_losses)
        if clash:
            raise ValueError(f'HierSPHead: the fine and coarse losses share the names '
                             f'{sorted(clash)}; give them different loss_name')
        out.update(coarse_losses)
        return out

    def predict(self, inputs: Sequence[Tensor], batch_img_metas: List[dict],
                test_cfg: Optional[dict] = None) -> Tensor:
        """Both levels' logits resized to the input, stacked on channels:
        (B, K_fine + K_coarse, H_img, W_img) (so that mmseg's whole and slide inference stitch
        both; :class:`~mmsp.models.HierSPEncoderDecoder` splits them)."""
        fine, coarse = self.forward(inputs)
        return torch.cat([
            self.predict_by_feat(fine, batch_img_metas),
            self.predict_by_feat(coarse, batch_img_metas)
        ], dim=1)
