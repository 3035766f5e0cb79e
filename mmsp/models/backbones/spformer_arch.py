"""SPFormer architecture zoo (T/S/B, /16 /32 /56), superpixel strides and their validation."""
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from .spformer_stem import STEM_LAYOUTS

_TINY = dict(
    pixel_dims=32,
    embed_dims=192,
    depths=(2, 10),
    num_heads=3,
    sp_heads=2,
    sp_iter=2,
    feedforward_channels=768)
_SMALL = dict(
    pixel_dims=64,
    embed_dims=384,
    depths=(2, 10),
    num_heads=6,
    sp_heads=2,
    sp_iter=2,
    feedforward_channels=1536)
_BASE = dict(
    pixel_dims=96,
    embed_dims=768,
    depths=(2, 10),
    num_heads=12,
    sp_heads=3,
    sp_iter=2,
    feedforward_channels=3072)

#: Named architectures of SPFormer (arXiv 2401.02931). ``pixel_dims`` = ``Cp``,
#: ``embed_dims`` = ``Cs``, ``depths`` = ViT blocks per stage, ``num_heads`` = ViT heads,
#: ``sp_heads`` = SCA heads, ``sp_iter`` = SCA layers per stage (2 per stage, 4 in total: the
#: authors' code; it matches the paper's parameter counts, see configs/spformer/README.md).
ARCH_ZOO: Dict[str, Dict[str, Any]] = {
    **dict.fromkeys(['t', 'tiny'], _TINY),
    **dict.fromkeys(['s', 'small'], _SMALL),
    **dict.fromkeys(['b', 'base'], _BASE),
}

REQUIRED_KEYS = ('pixel_dims', 'embed_dims', 'depths', 'num_heads', 'sp_heads')
OPTIONAL_KEYS = ('sp_iter', 'feedforward_channels')

#: ``superpixel_stride -> (stem_type, cell size s)``; ``superpixel_stride = r * s`` image
#: pixels. 224 px gives 14x14 / 7x7 / 4x4 superpixels. The 448-px model of the paper keeps
#: its FLOPs, so it keeps 14x14 superpixels: stride 32 (the stride-8 stem).
STRIDE_ZOO: Dict[int, Tuple[str, int]] = {16: ('conv4', 4), 32: ('conv8', 4), 56: ('ccc8', 7)}


def _per_stage(value: Union[int, Sequence[int]], num_stages: int, name: str) -> Tuple[int, ...]:
    if isinstance(value, int):
        values = (value, ) * num_stages
    elif isinstance(value, (tuple, list)):
        values = tuple(value)
    else:
        values = ()
    if len(values) != num_stages or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise ValueError(f'SPFormer arch: {name} must be a positive int or {num_stages} positive '
                         f'ints (one per stage), got {value!r}')
    return values


def resolve_arch(arch: Union[str, Dict[str, Any]], **overrides: Any) -> Dict[str, Any]:
    """Validated architecture settings from a zoo name or a custom dict.

    Args:
        arch (str | dict): a key of :data:`ARCH_ZOO` or a dict with all of
            :data:`REQUIRED_KEYS` (and optionally :data:`OPTIONAL_KEYS`).
        **overrides: non-``None`` values replace the arch entries (the ablation switches
            ``sp_iter``, ``sp_heads``, ``depths``).

    Returns:
        dict: ``pixel_dims``, ``embed_dims``, ``num_heads``, ``feedforward_channels`` (ints),
        ``depths``, ``sp_heads``, ``sp_iter`` (tuples with one entry per stage).

    Raises:
        ValueError: unknown names, missing/unknown keys, non-positive values, or widths that
            the heads do not divide.
    """
    if isinstance(arch, str):
        if arch.lower() not in ARCH_ZOO:
            raise ValueError(f'SPFormer: unknown arch {arch!r}; choose from '
                             f'{sorted(set(ARCH_ZOO))} or pass a dict with keys {REQUIRED_KEYS}')
        cfg = dict(ARCH_ZOO[arch.lower()])
    elif isinstance(arch, dict):
        missing = [k for k in REQUIRED_KEYS if k not in arch]
        unknown = [k for k in arch if k not in REQUIRED_KEYS + OPTIONAL_KEYS]
        if missing or unknown:
            raise ValueError(f'SPFormer: custom arch dict is missing keys {missing} / has unknown '
                             f'keys {unknown}; required {REQUIRED_KEYS}, optional {OPTIONAL_KEYS}')
        cfg = dict(arch)
    else:
        raise ValueError(f'SPFormer: arch must be a str or dict, got {type(arch).__name__}')
    cfg.update({k: v for k, v in overrides.items() if v is not None})

    depths = cfg['depths']
    depths = (depths, ) if isinstance(depths, int) else tuple(depths)
    if not depths:
        raise ValueError('SPFormer arch: depths must name at least one stage')
    cfg['depths'] = _per_stage(depths, len(depths), 'depths')
    cfg['sp_heads'] = _per_stage(cfg['sp_heads'], len(depths), 'sp_heads')
    cfg['sp_iter'] = _per_stage(cfg.get('sp_iter', 2), len(depths), 'sp_iter')
    cfg.setdefault('feedforward_channels', 4 * cfg['embed_dims'])
    for key in ('pixel_dims', 'embed_dims', 'num_heads', 'feedforward_channels'):
        _per_stage(cfg[key], 1, key)
    cp, cs = cfg['pixel_dims'], cfg['embed_dims']
    if cs % cfg['num_heads']:
        raise ValueError(f'SPFormer arch: num_heads={cfg["num_heads"]} must divide '
                         f'embed_dims={cs}')
    for heads in cfg['sp_heads']:
        if cp % heads or cs % heads:
            raise ValueError(f'SPFormer arch: sp_heads={heads} must divide pixel_dims={cp} and '
                             f'embed_dims={cs}')
    return cfg


def resolve_stride(superpixel_stride: int, stem_type: Optional[str] = None) -> Tuple[str, int, int]:
    """``(stem_type, pixel_stride r, cell_size s)`` for a superpixel stride ``r * s``.

    Args:
        superpixel_stride (int): superpixel size in image pixels at initialisation.
        stem_type (str, optional): force a stem (:data:`STEM_LAYOUTS`); by default the one of
            :data:`STRIDE_ZOO`.

    Raises:
        ValueError: a stride that is not a positive multiple of the stem stride, or an unknown
            stride without an explicit stem.
    """
    if not isinstance(superpixel_stride, int) or isinstance(superpixel_stride, bool) \
            or superpixel_stride < 1:
        raise ValueError(f'SPFormer: superpixel_stride must be a positive int, '
                         f'got {superpixel_stride!r}')
    if stem_type is None:
        if superpixel_stride not in STRIDE_ZOO:
            raise ValueError(f'SPFormer: no default stem for superpixel_stride='
                             f'{superpixel_stride}; use one of {sorted(STRIDE_ZOO)} or set '
                             f'stem_type to one of {sorted(STEM_LAYOUTS)}')
        stem_type = STRIDE_ZOO[superpixel_stride][0]
    if stem_type not in STEM_LAYOUTS:
        raise ValueError(f'SPFormer: unknown stem_type {stem_type!r}; choose from '
                         f'{sorted(STEM_LAYOUTS)}')
    pixel_stride = STEM_LAYOUTS[stem_type][0]
    if superpixel_stride % pixel_stride:
        raise ValueError(f'SPFormer: superpixel_stride={superpixel_stride} is not a multiple of '
                         f'the {stem_type!r} stem stride {pixel_stride}')
    return stem_type, pixel_stride, superpixel_stride // pixel_stride


__all__ = ['ARCH_ZOO', 'STRIDE_ZOO', 'resolve_arch', 'resolve_stride']
