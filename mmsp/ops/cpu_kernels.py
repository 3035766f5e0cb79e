"""Fused C++ kernels for CPU inference, built on first use.

:func:`sca_cell_pass` is the element-wise part of one absorbed-key
:class:`~mmsp.models.layers.SuperpixelCrossAttention` layer, fused per superpixel cell
(``csrc/sca_cell_pass.cpp``): the LN scale, the products of every pixel with its candidates'
absorbed keys and its logits, both softmaxes, the pixel update with its residual, the
per-cell sums of the superpixel update and the exported association; :func:`sca_window_sum`
then normalises the superpixel update over each window, and :func:`unfold_logits` is SPFormer's
pixel unfolding.
The one large matrix product before it (``G x`` for the LN statistics) stays in PyTorch
(MKL). In an SPFormer-S layer the top-level ATen calls (views included) drop from 211 to
94 (``docs/sca-speed.md``, round 5). :func:`depthwise_conv3x3` (``csrc/depthwise_conv3x3.cpp``)
is the SCA position encoding ``x + dwconv3x3(x)`` on channels-last maps in one pass, without
oneDNN's ~0.1 ms set-up per call (round 6); :func:`layer_norm_gelu` (``csrc/layer_norm_gelu.cpp``)
is LayerNorm + exact GELU (+ the mean over each cell) in one pass per row, for SPFormer's stem
and superpixel initialisation (round 7).

They are used only where they compute the same function: inference (no autograd graph),
float32 CPU tensors, LN2d-normalised layers with absorbed keys (the cell passes), LN + exact
GELU (:func:`layer_norm_gelu_applies`), not while tracing or compiling (the FLOP counter traces
the plain ops). Everywhere else the PyTorch ops run.

**Build.** The first call compiles the kernel with :func:`torch.utils.cpp_extension.load` (a
C++ compiler and ninja are needed; ~30 s, cached in ``TORCH_EXTENSIONS_DIR``). If that fails,
a warning is issued once and the PyTorch ops are used. ``MMSP_CPU_KERNELS=0`` in the
environment (or :func:`use_cpu_kernels` ``(False)``) switches the kernels off.
"""
import contextlib
import os
import os.path as osp
import threading
import warnings
from typing import Iterator, List, Optional

import torch
from torch import Tensor, nn

from .grid import SuperpixelGrid

__all__ = [
    'cpu_kernels_enabled', 'use_cpu_kernels', 'load_cpu_kernels', 'eager_cpu_inference',
    'cpu_kernels_apply', 'depthwise_conv3x3', 'depthwise_conv3x3_applies', 'layer_norm_gelu',
    'layer_norm_gelu_applies', 'sca_cell_pass', 'sca_window_sum', 'unfold_logits'
]

_ENV = 'MMSP_CPU_KERNELS'
_SOURCES = [
    osp.join(osp.dirname(osp.abspath(__file__)), 'csrc', name)
    for name in ('sca_cell_pass.cpp', 'depthwise_conv3x3.cpp', 'layer_norm_gelu.cpp')
]
_lock = threading.Lock()
_state = dict(enabled=None, module=None, failed=False)


def cpu_kernels_enabled() -> bool:
    """Whether the fused CPU kernels may be used (``MMSP_CPU_KERNELS`` is not ``0``, unless
    :func:`use_cpu_kernels` says otherwise)."""
    if _state['enabled'] is not None:
        return bool(_state['enabled'])
    return os.environ.get(_ENV, '1').strip().lower() not in ('0', 'false', 'off', 'no')


@contextlib.contextmanager
def use_cpu_kernels(enabled: bool) -> Iterator[None]:
    """Switch the fused CPU kernels on or off inside the block (process-wide), e.g. to compare
    them with the PyTorch ops."""
    saved = _state['enabled']
    _state['enabled'] = bool(enabled)
    try:
        yield
    finally:
        _state['enabled'] = saved


def _isa_flags() -> List[str]:
    """Vector ISA flags the kernel is built with: AVX2 + FMA where this CPU has them
    (``torch.backends.cpu.get_cpu_capability``), so a build never uses instructions the
    machine lacks; the build directory is named after them."""
    capability = torch.backends.cpu.get_cpu_capability()
    return ['-mavx2', '-mfma'] if capability in ('AVX2', 'AVX512') else []


def load_cpu_kernels(verbose: bool = False):
    """The compiled kernel module, built on the first call; None if it cannot be built
    (warned once) or the kernels are switched off."""
    if not cpu_kernels_enabled() or _state['failed']:
        return None
    if _state['module'] is not None:
        return _state['module']
    with _lock:
        if _state['module'] is None and not _state['failed']:
            from torch.utils.cpp_extension import load
            isa = _isa_flags()
            try:
                _state['module'] = load(
                    name='mmsp_sca_cpu' + ('_avx2' if isa else ''),
                    sources=_SOURCES,
                    extra_cflags=['-O3', '-fopenmp'] + isa,
                    extra_ldflags=['-fopenmp'],
                    verbose=verbose)
            except Exception as e:  # no compiler / ninja, or a failed build
                _state['failed'] = True
                warnings.warn(f'mmsp: the fused CPU kernels could not be built ({e!r:.300}); '
                              f'the PyTorch ops are used instead (set {_ENV}=0 to silence)')
    return _state['module']


def eager_cpu_inference(*tensors: Tensor, module: Optional[nn.Module] = None) -> bool:
    """Whether ``tensors`` (the inputs of an op and a weight of it) are CPU tensors of one
    dtype in eager inference: no autograd graph to build (neither through ``tensors`` nor,
    when grad mode is on, through a parameter of ``module``), not traced or compiled (the FLOP
    counter traces the plain PyTorch ops), not under CPU autocast. Where this holds, an op may
    take an inference-only path that computes the same function (the fused kernels here, the
    chunked MLP of :class:`~mmsp.models.backbones.Mlp`).

    It costs ~1 us under ``torch.no_grad()``: ``module``'s parameters are only visited when
    grad mode is on (walking them takes ~20 us, a few % of a small layer at batch 1)."""
    if not tensors or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return False
    if torch.is_autocast_enabled('cpu'):
        return False
    dtype = tensors[0].dtype
    for t in tensors:
        if not t.is_cpu or t.dtype != dtype:
            return False
    if not torch.is_grad_enabled():
        return True
    if any(t.requires_grad for t in tensors):
        return False
    return module is None or not any(p.requires_grad for p in module.parameters())


def cpu_kernels_apply(*tensors: Tensor, module: Optional[nn.Module] = None) -> bool:
    """Whether the fused kernels compute the same function on ``tensors`` (and ``module``'s
    parameters): float32 tensors in eager CPU inference (:func:`eager_cpu_inference`), the
    kernels switched on and built."""
    if not cpu_kernels_enabled() or not tensors or tensors[0].dtype != torch.float32:
        return False
    return eager_cpu_inference(*tensors, module=module) and load_cpu_kernels() is not None


def depthwise_conv3x3(x: Tensor, conv: nn.Conv2d, add_identity: bool = False) -> Tensor:
    """``conv(x)`` (``x + conv(x)`` with ``add_identity``) for a 3x3 depthwise ``conv`` with
    stride 1 and zero padding 1, in one pass (``csrc/depthwise_conv3x3.cpp``).

    oneDNN spends ~0.1 ms per call on set-up whatever the map size, most of the time of the
    position encodings of SPFormer's SCA layers at batch 1 (``docs/sca-speed.md``, round 6).

    Args:
        x (Tensor): (B, C, H, W) float32, channels-last memory format.
        conv (nn.Conv2d): ``Conv2d(C, C, 3, padding=1, groups=C)``.
        add_identity (bool): add ``x`` to the result.

    Returns:
        Tensor: (B, C, H, W) in channels-last memory format.
    """
    if not depthwise_conv3x3_applies(x, conv):
        raise ValueError(f'depthwise_conv3x3: a channels-last (B, C, H, W) map and a 3x3 '
                         f'depthwise conv (stride 1, padding 1) are needed, got '
                         f'{tuple(x.shape)} and {conv}')
    out = _module('depthwise_conv3x3').depthwise_conv3x3(
        x.permute(0, 2, 3, 1), conv.weight.detach().contiguous(),
        None if conv.bias is None else conv.bias.detach().contiguous(), add_identity)
    return out.permute(0, 3, 1, 2)


def depthwise_conv3x3_applies(x: Tensor, conv: nn.Conv2d) -> bool:
    """Whether :func:`depthwise_conv3x3` takes ``x`` and ``conv``: a 3x3 depthwise conv with
    stride 1, zero padding 1 and no dilation over the channels of a channels-last 4-D map."""
    c = conv.in_channels
    return (x.dim() == 4 and x.shape[1] == c and conv.out_channels == c and conv.groups == c
            and tuple(conv.kernel_size) == (3, 3) and tuple(conv.stride) == (1, 1)
            and tuple(conv.padding) == (1, 1) and tuple(conv.dilation) == (1, 1)
            and conv.padding_mode == 'zeros'
            and x.permute(0, 2, 3, 1).is_contiguous())


def layer_norm_gelu_applies(norm: nn.Module,
                            act: nn.Module,
                            *tensors: Tensor,
                            module: Optional[nn.Module] = None) -> bool:
    """Whether :func:`layer_norm_gelu` computes ``act(norm(y))`` here: ``norm`` an affine
    ``nn.LayerNorm`` (with bias) over one dimension, ``act`` the exact (erf) ``nn.GELU``, and
    the kernels apply to ``tensors`` and ``norm``'s weight (:func:`cpu_kernels_apply`; the
    parameters of ``module``, default ``norm``, are checked in grad mode)."""
    return (isinstance(norm, nn.LayerNorm) and len(norm.normalized_shape) == 1
            and norm.elementwise_affine and getattr(norm, 'bias', None) is not None
            and type(act) is nn.GELU and act.approximate == 'none'
            and cpu_kernels_apply(*tensors, norm.weight,
                                  module=norm if module is None else module))


def layer_norm_gelu(y: Tensor,
                    norm: nn.LayerNorm,
                    cell_mean: bool = False,
                    valid: Optional[Tensor] = None) -> Tensor:
    """``gelu(layer_norm(y))`` over the last dimension, or its mean over each cell's pixels,
    in one pass per row (``csrc/layer_norm_gelu.cpp``; exact GELU to ~1.5e-7 absolute).

    Args:
        y (Tensor): (..., C) float32 rows, or (..., P, C) with ``cell_mean``: the ``P`` pixels
            of every cell (the cell layout of :mod:`mmsp.ops.cell_layout`).
        norm (nn.LayerNorm): affine LayerNorm over the ``C`` channels (its ``eps``).
        cell_mean (bool): average the activated rows of every cell over its pixels.
        valid (Tensor, optional): (..., P) bool mask of the real pixels of every cell,
            broadcast over the leading dimensions of ``y`` (the grid's ``pixel_mask`` for
            the partial border cells); the mean is over them. Needs ``cell_mean``.

    Returns:
        Tensor: ``y``'s shape (``cell_mean``: without the ``P`` dimension), contiguous.
    """
    c = y.shape[-1]
    if tuple(norm.normalized_shape) != (c, ):
        raise ValueError(f'layer_norm_gelu: a LayerNorm over the {c} channels of '
                         f'{tuple(y.shape)} is needed, got {norm}')
    if not cell_mean:
        if valid is not None:
            raise ValueError('layer_norm_gelu: valid needs cell_mean=True')
        rows = y.reshape(-1, 1, c).contiguous()
        return _module('layer_norm_gelu').layer_norm_gelu(
            rows, norm.weight.detach().contiguous(), norm.bias.detach().contiguous(), norm.eps,
            False, None).view(y.shape)
    if y.dim() < 2:
        raise ValueError(f'layer_norm_gelu: cell_mean needs (..., P, C), got {tuple(y.shape)}')
    p = y.shape[-2]
    mask = None
    if valid is not None:
        lead = y.shape[:-2]
        if valid.shape[-1] != p or valid.dim() > y.dim() - 1 or \
                tuple(valid.shape[:-1]) != tuple(lead[len(lead) - valid.dim() + 1:]):
            raise ValueError(f'layer_norm_gelu: valid {tuple(valid.shape)} must be the '
                             f'trailing (..., P) of the cells {tuple(y.shape)}')
        mask = valid.to(torch.uint8).reshape(-1, p).contiguous()
    out = _module('layer_norm_gelu').layer_norm_gelu(
        y.reshape(-1, p, c).contiguous(), norm.weight.detach().contiguous(),
        norm.bias.detach().contiguous(), norm.eps, True, mask)
    return out.view(*y.shape[:-2], c)


def sca_cell_pass(keys: Tensor,
                  offsets: Tensor,
                  stat: Tensor,
                  pixels: Tensor,
                  eps: float,
                  grid: SuperpixelGrid,
                  num_heads: int,
                  values: Optional[Tensor] = None,
                  x: Optional[Tensor] = None,
                  gamma: Optional[Tensor] = None,
                  export_association: bool = False) -> dict:
    """The fused element-wise pass of one absorbed-key SCA layer (see the module docstring).

    Args:
        keys (Tensor): (B, h, w, K, C_in) absorbed keys of ``K`` pseudo-heads per superpixel
            (:meth:`~mmsp.models.layers.superpixel_cross_attention._FactorisedPixels.keys`).
            The logit of pixel ``p`` and candidate ``c`` is ``r_p <keys_c, x_p> + offset_c``;
            the products are made in the pass, cell by cell (the 9 candidates' keys against
            the cell's pixels).
        offsets (Tensor): (B, h, w, K) per-superpixel logit offsets.
        stat (Tensor): (B*h*w, s*s, C_in) ``G x_p`` for the LN statistics: the logits are
            scaled by ``r_p = 1 / sqrt(x_p^T G x_p + eps)``.
        pixels (Tensor): (B*h*w, s*s, C_in) the pixels ``x_p`` (cell layout).
        eps (float): the LN epsilon.
        grid (SuperpixelGrid): geometry.
        num_heads (int): ``M``; the superpixel update uses the last ``M`` pseudo-heads, the
            pixel update (with ``values``) the first ``M``.
        values (Tensor, optional): (B, h, w, C) superpixel values of the pixel update, head
            ``m`` the channels ``[m C / M, (m + 1) C / M)``.
        x (Tensor, optional): (B, C, H, W) pixels the update is added to (with ``values``).
        gamma (Tensor, optional): (C, ) scale of the pixel update (with ``values``).
        export_association (bool): also return the superpixel-update logits (B, M, 9, H, W).

    Returns:
        dict: ``x`` (B, C, H, W) channels-last updated pixels (None without ``values``);
        ``sums`` (B*h*w, 9M, C_in) ``sum_p exp(logit - max) r_p x_p`` per cell, candidate
        and head (zero for candidates outside the grid); ``cell_max`` and ``cell_sum``
        (B*h*w, 9, M) the max over a cell's (real) pixels and the sum of those exponentials
        (``-inf`` and 0 outside the grid); ``association`` (or None).
    """
    module = _module('sca_cell_pass')
    b, h, w, k = offsets.shape
    if values is not None:
        values = values.reshape(b, h, w, num_heads, -1).contiguous()
        x = x.permute(0, 2, 3, 1).contiguous()
        gamma = gamma.contiguous()
    out, sums, cell_max, cell_sum, assoc = module.sca_cell_pass(
        keys.contiguous(), offsets.contiguous(), stat.contiguous(),
        pixels.contiguous(), float(eps), grid.height, grid.width, grid.stride, num_heads,
        values, x, gamma, export_association)
    return dict(
        x=out.permute(0, 3, 1, 2) if values is not None else None,
        sums=sums,
        cell_max=cell_max,
        cell_sum=cell_sum,
        association=assoc if export_association else None)


def sca_window_sum(sums: Tensor, cell_max: Tensor, cell_sum: Tensor,
                   grid: SuperpixelGrid) -> Tensor:
    """The superpixel update from the per-cell parts of :func:`sca_cell_pass`.

    With ``mx`` the max of a (cell, candidate, head) column's logits, ``cell_sum`` the sum of
    its ``exp(l - mx)`` and ``sums`` the sum of ``exp(l - mx) r_p x_p`` over the cell's pixels,
    superpixel ``j`` receives ``sum_n sums(j - offset(n), n) * exp(mx - W_j)``, where ``W_j``
    is the logsumexp of ``mx + log(cell_sum)`` over its window: the window softmax of
    :func:`~mmsp.ops.association.block_superpixel_update`, normalised after the sums.

    Args:
        sums (Tensor): (B*h*w, 9M, C) float32.
        cell_max (Tensor): (B*h*w, 9, M).
        cell_sum (Tensor): (B*h*w, 9, M).
        grid (SuperpixelGrid): geometry.

    Returns:
        Tensor: (B, M, h, w, C) update of every superpixel (a view of a (B, h, w, M, C)
        tensor).
    """
    out = _module('sca_window_sum').sca_window_sum(sums.contiguous(), cell_max, cell_sum,
                                                   grid.rows, grid.cols)
    return out.permute(0, 3, 1, 2, 4)


def unfold_logits(association: Tensor,
                  values: Tensor,
                  stride: int,
                  x: Optional[Tensor] = None,
                  gamma: Optional[Tensor] = None) -> Tensor:
    """``[x + gamma *] unfold_with_logits(association, values)`` in one pass per pixel row.

    Args:
        association (Tensor): (B, M, 9, H, W) logits, ``-inf`` outside the grid.
        values (Tensor): (B, h, w, C) channels-last superpixel values, head ``m`` the channel
            group ``[m C / M, (m + 1) C / M)``.
        stride (int): superpixel cell size.
        x (Tensor, optional): (B, C, H, W) map the unfolded values are added to.
        gamma (Tensor, optional): (C, ) their scale (with ``x``).

    Returns:
        Tensor: (B, C, H, W) in channels-last memory format.
    """
    b, m = association.shape[:2]
    values = values.reshape(*values.shape[:3], m, -1).contiguous()
    if x is not None:
        x, gamma = x.permute(0, 2, 3, 1).contiguous(), gamma.contiguous()
    out = _module('unfold_logits').unfold_logits(association.contiguous(), values, stride, x,
                                                 gamma)
    return out.permute(0, 3, 1, 2)


def _module(what: str):
    module = load_cpu_kernels()
    if module is None:
        raise RuntimeError(f'{what}: the fused CPU kernels are not available')
    return module
