"""SwinBackbone's constructor arguments: the variants, and every check of a value before anything
is built. A value that cannot be built raises :class:`~swin_mm.errors.ConfigError` (a ValueError
and an AssertionError, as the peers raise) naming it and what was expected; a value of the wrong
type raises TypeError.
"""
from __future__ import annotations

import difflib
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ..errors import ConfigError

__all__ = ['ARCH_SETTINGS', 'resolve_arch', 'check_stage_indices', 'check_mmdet_compat',
           'pretrain_grid', 'init_cfg_list', 'unknown_arguments_message']

#: embed_dims, depths and num_heads of the paper's variants.
ARCH_SETTINGS: Dict[str, Dict[str, object]] = {
    'tiny': dict(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
    'small': dict(embed_dims=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)),
    'base': dict(embed_dims=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
    'large': dict(embed_dims=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48)),
}
_ARCH_ALIASES = {'t': 'tiny', 's': 'small', 'b': 'base', 'l': 'large'}


def resolve_arch(arch: Union[str, dict, None], embed_dims: Optional[int],
                 depths: Optional[Sequence[int]], num_heads: Optional[Sequence[int]]
                 ) -> Tuple[int, Tuple[int, ...], Tuple[int, ...]]:
    """The variant's (C, depths, heads): from ``arch`` (name or dict), explicit values winning."""
    if isinstance(arch, str):
        name = _ARCH_ALIASES.get(arch.lower(), arch.lower())
        if name not in ARCH_SETTINGS:
            raise ConfigError(f'unknown arch {arch!r}: not in default archs {sorted(ARCH_SETTINGS)}'
                              f'; give one of them or a dict with embed_dims, depths and num_heads')
        settings = dict(ARCH_SETTINGS[name])
    elif isinstance(arch, dict):
        settings = dict(arch)
    elif arch is None:
        settings = dict(ARCH_SETTINGS['tiny'])
    else:
        raise TypeError(f'arch must be a name or a dict, got {arch!r}')
    for key, value in (('embed_dims', embed_dims), ('depths', depths), ('num_heads', num_heads)):
        if value is not None:
            settings[key] = value
    missing = {'embed_dims', 'depths', 'num_heads'} - settings.keys()
    if missing:
        raise ConfigError(f'arch {arch!r} lacks {sorted(missing)}: a custom arch needs '
                          f'embed_dims, depths and num_heads')
    dims, depths, heads = int(settings['embed_dims']), tuple(settings['depths']), \
        tuple(settings['num_heads'])
    if len(depths) != len(heads):
        raise ConfigError(f'depths {depths} and num_heads {heads} must have the same length')
    if not depths or any(d < 1 for d in depths) or any(h < 1 for h in heads):
        raise ConfigError(f'depths {depths} and num_heads {heads} must be positive')
    for i, h in enumerate(heads):
        if (dims * 2 ** i) % h:
            raise ConfigError(f'stage {i} has {dims * 2 ** i} channels, not divisible by '
                              f'num_heads[{i}]={h}')
    return dims, depths, heads


def check_stage_indices(out_indices: Iterable[int], frozen_stages: int, num_stages: int
                        ) -> Tuple[int, ...]:
    """``out_indices`` as a tuple, after checking it and ``frozen_stages`` against the stages."""
    out_indices = tuple(int(i) for i in out_indices)
    bad = [i for i in out_indices if not 0 <= i < num_stages]
    if bad or not out_indices:
        raise ConfigError(f'out_indices {out_indices} must be non-empty stage indices in '
                          f'[0, {num_stages - 1}]')
    if not -1 <= frozen_stages <= num_stages:
        raise ConfigError(f'frozen_stages {frozen_stages} must be in [-1, {num_stages}]')
    return out_indices


def check_mmdet_compat(patch_size: int, num_stages: int, strides: Optional[Sequence[int]],
                       act_cfg: Optional[dict], norm_cfg: Optional[dict]) -> None:
    """Refuse MMDetection arguments whose non-default values this backbone does not implement."""
    expected = (patch_size,) + (2,) * (num_stages - 1)
    if strides is not None and tuple(strides) != expected:
        raise ConfigError(f'strides {tuple(strides)} not supported: Swin embeds non-overlapping '
                          f'patches, so the first stride must equal patch_size {patch_size} and '
                          f'the others be 2: {expected}')
    if act_cfg is not None and act_cfg.get('type') != 'GELU':
        raise ConfigError(f"act_cfg {act_cfg} not supported; Swin uses dict(type='GELU')")
    if norm_cfg is not None and norm_cfg.get('type') != 'LN':
        raise ConfigError(f"norm_cfg {norm_cfg} not supported; Swin uses dict(type='LN')")


def pretrain_grid(pretrain_img_size: Union[int, Sequence[int]], patch_size: int
                  ) -> Tuple[int, int]:
    """The (rows, cols) patch grid of the absolute position embedding; an int or a one-element
    sequence means a square image, as in MMDetection."""
    size = (pretrain_img_size,) if isinstance(pretrain_img_size, int) else \
        tuple(pretrain_img_size)
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or not all(isinstance(s, int) and s >= patch_size for s in size):
        raise ConfigError(f'pretrain_img_size {pretrain_img_size!r} must be an int or an (H, W) '
                          f'pair of ints >= patch_size {patch_size}')
    return size[0] // patch_size, size[1] // patch_size


def init_cfg_list(init_cfg: Union[dict, Sequence[dict], None], pretrained: object) -> List[dict]:
    """``init_cfg`` as a list of MMEngine initialiser dicts, the deprecated ``pretrained=PATH``
    folded in as ``dict(type='Pretrained', checkpoint=PATH)``."""
    if pretrained is not None and not isinstance(pretrained, str):
        raise TypeError(f'pretrained must be a checkpoint path (str) or None, got '
                        f'{type(pretrained).__name__} {pretrained!r}')
    if init_cfg is None:
        cfgs = []
    elif isinstance(init_cfg, dict):
        cfgs = [dict(init_cfg)]
    elif isinstance(init_cfg, (list, tuple)):
        cfgs = [dict(c) if isinstance(c, dict) else c for c in init_cfg]
    else:
        raise TypeError(f'init_cfg must be a dict, a list of dicts or None, got {init_cfg!r}')
    for cfg in cfgs:
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise ConfigError(f'init_cfg entry {cfg!r} must be a dict with a type, e.g. '
                              f"dict(type='Pretrained', checkpoint=PATH)")
        if cfg['type'] == 'Pretrained' and 'checkpoint' not in cfg:
            raise ConfigError(f'init_cfg entry {cfg} has no checkpoint')
    if pretrained is not None:
        if any(c['type'] == 'Pretrained' for c in cfgs):
            raise ConfigError('give either pretrained (deprecated) or a Pretrained init_cfg, '
                              'not both')
        cfgs.append(dict(type='Pretrained', checkpoint=pretrained))
    return cfgs


def unknown_arguments_message(unknown: Iterable[str], known: Sequence[str],
                              owner: str = 'SwinBackbone') -> str:
    """'SwinBackbone got unknown argument(s) 'embed_dim' (did you mean 'embed_dims'?)'."""
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        parts.append(f'{name!r}' + (f' (did you mean {close[0]!r}?)' if close else ''))
    return f'{owner} got unknown argument(s) {", ".join(parts)}'
