"""Checks of a config's model before any data is read: the neck's and heads' channels against what
the SwinBackbone emits, and backbone outputs that nothing reads.

An output that nothing reads leaves its norm (``norm{i}``) without a gradient, and
DistributedDataParallel then stops in the second iteration with "Expected to have finished
reduction in the prior iteration" (MMDetection pull request 6621: an FPN with ``start_level=1``
over four Swin outputs). :func:`check_outputs_used` names the outputs and the overrides that emit
only what is read (the same network, nothing unused); stages after the last output are not built
at all (:class:`~swin_mm.SwinBackbone`).
"""
from __future__ import annotations

import warnings
from typing import Dict, List, Optional, Sequence

from ..errors import ConfigError

__all__ = ['check_model_channels', 'check_outputs_used', 'unused_outputs']

_HEADS = ('decode_head', 'auxiliary_head')


def _swin_out_indices(cfg) -> Optional[List[int]]:
    """The config's SwinBackbone out_indices (checked), or None for another backbone."""
    backbone = cfg.get('model', {}).get('backbone', {})
    from swin_mm.registry import BACKBONES
    if backbone.get('type') not in BACKBONES:
        return None
    num_stages = len(BACKBONES[backbone['type']].channels_of(backbone))
    out_indices = list(backbone.get('out_indices', range(num_stages)))
    bad = [i for i in out_indices if not 0 <= i < num_stages]
    if bad:
        raise ConfigError(f'model.backbone.out_indices {out_indices}: {bad} out of range for '
                          f'{num_stages} stages')
    return out_indices


def _heads(model: dict) -> Dict[str, dict]:
    """MMSegmentation's heads that read the backbone, by config path (``auxiliary_head`` may be a
    list)."""
    heads = {}
    for name in _HEADS:
        head = model.get(name)
        for j, h in enumerate(head if isinstance(head, (list, tuple)) else [head]):
            if isinstance(h, dict):
                heads[f'{name}.{j}' if isinstance(head, (list, tuple)) else name] = h
    return heads


def check_model_channels(cfg) -> None:
    """Raise ConfigError when the neck's or the heads' input channels disagree with what the
    SwinBackbone of the config emits (checked before any data is loaded)."""
    out_indices = _swin_out_indices(cfg)
    if out_indices is None:
        return
    from swin_mm.registry import BACKBONES
    model = cfg.model
    stages = BACKBONES[model.backbone['type']].channels_of(model.backbone)
    emitted = [stages[i] for i in out_indices]
    neck = model.get('neck')
    if isinstance(neck, dict) and 'in_channels' in neck and list(neck['in_channels']) != emitted:
        raise ConfigError(f'model.neck.in_channels {list(neck["in_channels"])} do not match the '
                          f'backbone, which emits {emitted} (out_indices {out_indices})')
    if isinstance(neck, dict):
        return  # the heads read the neck
    for name, head in _heads(model).items():
        if 'in_channels' not in head:
            continue
        index = head.get('in_index', -1)
        want = [emitted[i] for i in index] if isinstance(index, (list, tuple)) else emitted[index]
        have = list(head['in_channels']) if isinstance(want, list) else head['in_channels']
        if have != want:
            raise ConfigError(f'model.{name}.in_channels {have} do not match the backbone '
                              f'outputs {want} at in_index {index}')


def _read_positions(model: dict, num_outputs: int) -> Optional[set]:
    """Positions (in out_indices order) of the backbone outputs that the neck or heads read;
    None when the config's readers are not ones whose levels are known."""
    neck = model.get('neck')
    if isinstance(neck, dict):
        if 'start_level' not in neck and 'end_level' not in neck:
            return None  # e.g. ChannelMapper: reads every input
        start, end = neck.get('start_level', 0), neck.get('end_level', -1)
        stop = num_outputs if end in (-1, num_outputs - 1) else end + 1  # MMDetection's FPN
        return set(range(start, stop))
    heads = _heads(model)
    if not heads:
        return None
    read = set()
    for head in heads.values():
        index = head.get('in_index', -1)
        for i in index if isinstance(index, (list, tuple)) else [index]:
            read.add(i % num_outputs)
    return read


def unused_outputs(cfg) -> List[int]:
    """Stage indices of the SwinBackbone outputs that the neck or heads never read and whose norm
    would train (a frozen stage's norm has no gradient to miss)."""
    out_indices = _swin_out_indices(cfg)
    if out_indices is None:
        return []
    read = _read_positions(cfg.model, len(out_indices))
    if read is None:
        return []
    frozen = cfg.model.backbone.get('frozen_stages', -1)
    return [i for p, i in enumerate(out_indices) if p not in read and i >= frozen]


def _fix(model: dict, out_indices: Sequence[int], unused: Sequence[int]) -> List[str]:
    """``--cfg-options`` overrides that emit only the outputs read: the same network."""
    keep = [p for p, i in enumerate(out_indices) if i not in unused]
    fix = [f'model.backbone.out_indices={[out_indices[p] for p in keep]}'.replace(' ', '')]
    neck = model.get('neck')
    if isinstance(neck, dict):
        if 'in_channels' in neck:
            channels = [neck['in_channels'][p] for p in keep]
            fix.append(f'model.neck.in_channels={channels}'.replace(' ', ''))
        start, end = neck.get('start_level', 0), neck.get('end_level', -1)
        fix.append('model.neck.start_level=0')
        if end != -1:
            fix.append(f'model.neck.end_level={end - start}')
        return fix
    for name, head in _heads(model).items():
        index = head.get('in_index', -1)
        new = [keep.index(i % len(out_indices)) for i in index] \
            if isinstance(index, (list, tuple)) else keep.index(index % len(out_indices))
        fix.append(f'model.{name}.in_index={new}'.replace(' ', ''))
    return fix


def check_outputs_used(cfg) -> None:
    """Before training: backbone outputs that nothing reads stop a distributed run (ConfigError
    naming the outputs and the fix) unless ``find_unused_parameters`` is set; a single process
    only computes them for nothing (a warning)."""
    unused = unused_outputs(cfg)
    if not unused:
        return
    out_indices = _swin_out_indices(cfg)
    norms = ', '.join(f'norm{i}' for i in unused)
    fix = ' '.join(_fix(cfg.model, out_indices, unused))
    what = (f'{cfg.model.backbone.type} outputs {unused} (out_indices {out_indices}) are never '
            f'read by the neck or heads')
    wrapper = cfg.get('model_wrapper_cfg') or {}
    tolerant = cfg.get('find_unused_parameters') or wrapper.get('find_unused_parameters')
    if cfg.get('launcher', 'none') != 'none' and not tolerant:
        raise ConfigError(
            f'{what}: their norms ({norms}) get no gradient, and DistributedDataParallel stops in '
            f'the second iteration ("Expected to have finished reduction in the prior '
            f'iteration"). Emit only what is read (the same network): --cfg-options {fix}; or '
            f'let DDP search for unused parameters every step (slower): '
            f'--cfg-options find_unused_parameters=True')
    warnings.warn(f'{what}; they are computed for nothing (--cfg-options {fix} drops them)')
