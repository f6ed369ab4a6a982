"""Load any Swin checkpoint into :class:`SwinBackbone` and report exactly what was loaded.

Formats detected (and converted to the official key names that SwinBackbone uses):

- ``official``: Microsoft's Swin release, classification (``{'model': ...}``, ``head.*``, stored
  ``attn_mask``/``relative_position_index`` buffers) and detection/segmentation (``state_dict`` with
  a ``backbone.`` prefix). Patch merging sits at the end of stage i. swin_mm saves this format too.
- ``timm``: same names, but patch merging at the start of stage i+1 (``layers.{i+1}.downsample``).
- ``openmmlab``: MMDetection 3.x / MMSegmentation 1.x / MMPretrain (``stages.{i}``, ``attn.w_msa``,
  ``ffn.layers``, ``patch_embed.projection``; patch-merging weights in ``nn.Unfold`` channel order;
  MMPretrain's old layout names the last output norm ``norm``, loaded as ``norm3``).

SwinV2 checkpoints come in the same three layouts (official; timm's ``swinv2_*`` with patch
merging at either end of a stage, by timm version; MMPretrain's ``SwinTransformerV2``) and load into
:class:`~swin_mm.SwinV2Backbone`: its position bias is an MLP over coordinates, so nothing is
resized when the window changes (set ``pretrained_window_sizes`` to the checkpoint's window).

Whole detector/segmentor/classifier checkpoints are accepted: the ``backbone.`` part is taken.
V1 relative-position tables are resized (bicubic) to the model's window, absolute position
embeddings to its grid. Every key is accounted for in the :class:`LoadReport`.
"""
from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F

from .serialization import CheckpointError, safe_load

__all__ = ['FORMATS', 'LoadReport', 'CheckpointError', 'read_checkpoint', 'extract_state_dict',
           'detect_format', 'is_swin_v2', 'coordinate_windows', 'convert_state_dict',
           'resize_relative_position_table',
           'resize_abs_pos_embed', 'infer_arch', 'load_state_dict_into', 'load_pretrained']

FORMATS = ('official', 'timm', 'openmmlab')
_BUFFER_SUFFIXES = ('relative_position_index', 'attn_mask', 'relative_coords_table')
_WRAPPER_KEYS = ('state_dict', 'model', 'module', 'model_state')
_OPENMMLAB_RENAMES = (
    (re.compile(r'^patch_embed\.projection\.'), 'patch_embed.proj.'),
    (re.compile(r'^stages\.'), 'layers.'),
    (re.compile(r'\.attn\.w_msa\.'), '.attn.'),
    (re.compile(r'\.ffn\.layers\.0\.0\.'), '.mlp.fc1.'),
    (re.compile(r'\.ffn\.layers\.1\.'), '.mlp.fc2.'),
)
_DOWNSAMPLE = re.compile(r'^layers\.(\d+)\.downsample\.(.+)$')

logger = logging.getLogger('swin_mm')


@dataclass
class LoadReport:
    """What a load did: every checkpoint key is loaded, expected-unused or unexpected."""
    source: str
    format: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    expected_unused: Dict[str, List[str]] = field(default_factory=dict)
    resized: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f'Loaded {len(self.loaded)} tensors from {self.source} (format: {self.format}).']
        lines += [f'  NOTE: {note}' for note in self.notes]
        for key, old, new in self.resized:
            lines.append(f'  resized {key}: {tuple(old)} -> {tuple(new)}')
        lines.append(f'  missing in checkpoint ({len(self.missing)}): '
                     f'{_summarise(self.missing) or "none"}')
        lines.append(f'  unexpected in checkpoint ({len(self.unexpected)}): '
                     f'{_summarise(self.unexpected) or "none"}')
        for why, keys in self.expected_unused.items():
            lines.append(f'  not used, as expected ({why}, {len(keys)}): {_summarise(keys)}')
        return '\n'.join(lines)


def _summarise(keys: List[str], limit: int = 12) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


# --- reading -----------------------------------------------------------------------------------
def read_checkpoint(source: str, trust_pickle: bool = False) -> object:
    """Read a local path or download an http(s) URL into torch hub's cache, then load safely."""
    if re.match(r'^https?://', source):
        cached = os.path.join(torch.hub.get_dir(), 'checkpoints', os.path.basename(source))
        if not os.path.isfile(cached):
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            torch.hub.download_url_to_file(source, cached, progress=True)
        source = cached
    return safe_load(source, trust_pickle=trust_pickle)


def extract_state_dict(checkpoint: object, prefix: Optional[str] = None
                       ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Unwrap a checkpoint to the backbone's flat state dict.

    Takes ``state_dict``/``model``/``module`` wrappers, strips ``module.`` (DDP), and of a whole
    model keeps the ``backbone.`` part (or ``prefix``'s). Returns the dict and the other model keys
    (necks, heads) that were left out.
    """
    sd = checkpoint
    while isinstance(sd, Mapping) and not _is_state_dict(sd):
        inner = next((sd[k] for k in _WRAPPER_KEYS if isinstance(sd.get(k), Mapping)), None)
        if inner is None:
            break
        sd = inner
    if not isinstance(sd, Mapping) or not _is_state_dict(sd):
        found = list(sd)[:8] if isinstance(sd, Mapping) else type(sd).__name__
        raise CheckpointError(f'no state dict of tensors found in the checkpoint (top level: '
                              f'{found}); expected tensors, or one under {list(_WRAPPER_KEYS)}')
    sd = {k[7:] if k.startswith('module.') else k: v for k, v in sd.items()
          if isinstance(v, torch.Tensor)}
    prefixes = [prefix] if prefix else ['backbone.', 'encoder.']
    for p in prefixes:
        p = p if p.endswith('.') else p + '.'
        if any(k.startswith(p) for k in sd):
            rest = [k for k in sd if not k.startswith(p)]
            return {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}, rest
    if prefix:
        raise CheckpointError(f'no key of the checkpoint starts with prefix {prefix!r}')
    return sd, []


def _is_state_dict(d: Mapping) -> bool:
    return len(d) > 0 and sum(isinstance(v, torch.Tensor) for v in d.values()) >= len(d) / 2


# --- format detection and conversion ----------------------------------------------------------
def is_swin_v2(sd: Mapping[str, torch.Tensor]) -> bool:
    """Whether a state dict (any format) holds SwinV2 attention (its position-bias MLP)."""
    return any('.cpb_mlp.' in k for k in sd)


def detect_format(sd: Mapping[str, torch.Tensor]) -> str:
    """'official', 'timm' or 'openmmlab' (V1 or V2); raises CheckpointError when no Swin backbone
    is found."""
    keys = list(sd)
    if any(k.startswith('stages.') for k in keys) and any('.attn.w_msa.' in k for k in keys):
        return 'openmmlab'
    if any(k.startswith('layers.') and ('.attn.relative_position_bias_table' in k
                                         or '.attn.cpb_mlp.' in k) for k in keys):
        stages = {int(m.group(1)) for k in keys if (m := _DOWNSAMPLE.match(k))}
        return 'timm' if stages and min(stages) >= 1 else 'official'
    raise CheckpointError(
        f'no Swin backbone found in the checkpoint: tried the formats {list(FORMATS)} (official '
        f'"layers.*.attn.relative_position_bias_table", timm, OpenMMLab "stages.*.attn.w_msa.*"). '
        f'First keys: {keys[:6]}')


def _unfold_to_official(t: torch.Tensor) -> torch.Tensor:
    """Reorder the 4C axis of patch merging from nn.Unfold order (c, row, col) to the official
    (col, row, c) concatenation order. Works on the reduction weight (out, 4C) and the norm
    (4C,)."""
    lead = t.shape[:-1]
    c = t.shape[-1] // 4
    t = t.reshape(*lead, c, 4).transpose(-1, -2)  # ..., (row, col), c
    return t[..., [0, 2, 1, 3], :].reshape(*lead, 4 * c)


def convert_state_dict(sd: Mapping[str, torch.Tensor], fmt: Optional[str] = None
                       ) -> Tuple[Dict[str, torch.Tensor], str, Dict[str, List[str]]]:
    """Convert a backbone state dict to swin_mm's (official) key names.

    Returns:
        The converted dict, the format, and the dropped keys by reason ('classification head',
        'buffers (rebuilt by the model)').
    """
    fmt = fmt or detect_format(sd)
    if fmt not in FORMATS:
        raise ValueError(f'unknown checkpoint format {fmt!r}; expected one of {FORMATS}')
    dropped: Dict[str, List[str]] = {}
    out: Dict[str, torch.Tensor] = {}
    v2 = is_swin_v2(sd)
    final_norm = _openmmlab_final_norm(sd) if fmt == 'openmmlab' else None
    for key, value in sd.items():
        if key.endswith(_BUFFER_SUFFIXES):
            dropped.setdefault('buffers (rebuilt by the model)', []).append(key)
            continue
        if final_norm and key.startswith('norm.'):
            out[final_norm + key[len('norm'):]] = value
            continue
        if key.startswith(('head.', 'norm.', 'fc.')) or key in ('norm.weight', 'norm.bias'):
            dropped.setdefault('classification head', []).append(key)
            continue
        if fmt == 'openmmlab':
            for pattern, repl in _OPENMMLAB_RENAMES:
                key = pattern.sub(repl, key)
            if '.downsample.reduction.' in key or ('.downsample.norm.' in key and not v2):
                value = _unfold_to_official(value)  # V2's merging norm is over 2C: no reorder
        match = _DOWNSAMPLE.match(key)
        if match and _downsample_at_stage_start(fmt, sd):
            key = f'layers.{int(match.group(1)) - 1}.downsample.{match.group(2)}'
        out[key] = value
    return out, fmt, dropped


def _openmmlab_final_norm(sd: Mapping[str, torch.Tensor]) -> Optional[str]:
    """'norm3' for an MMPretrain checkpoint of the old layout (before its version 2), whose last
    stage's output norm is ``norm.*``; MMPretrain renames it so on loading too. None otherwise."""
    stages = {int(k.split('.')[1]) for k in sd if k.startswith('stages.')}
    if not stages or not any(k.startswith('norm.') for k in sd):
        return None
    name = f'norm{max(stages)}'
    return None if any(k.startswith(name + '.') for k in sd) else name


def _downsample_at_stage_start(fmt: str, sd: Mapping[str, torch.Tensor]) -> bool:
    """timm and MMPretrain merge patches at the start of stage i+1, the others at the end of i."""
    if fmt == 'timm':
        return True
    if fmt == 'openmmlab':
        stages = {int(k.split('.')[1]) for k in sd
                  if k.startswith('stages.') and '.downsample.' in k}
        return bool(stages) and min(stages) >= 1
    return False


# --- resizing ----------------------------------------------------------------------------------
def resize_relative_position_table(table: torch.Tensor, window_size: Tuple[int, int],
                                   src_window_size: Optional[Tuple[int, int]] = None
                                   ) -> torch.Tensor:
    """Resize a ((2wh'-1)(2ww'-1), heads) table to ``window_size`` (bicubic, as the paper's
    fine-tuning does). The source window is taken as square unless given.

    Returns:
        ((2wh-1)(2ww-1), heads); the centre entry (zero offset) keeps its value.
    """
    length, heads = table.shape
    if src_window_size is None:
        side = math.isqrt(length)
        if side * side != length:
            raise CheckpointError(f'relative_position_bias_table of shape {tuple(table.shape)} '
                                  f'is not square; give the source window size')
        src = (side, side)
    else:
        src = (2 * src_window_size[0] - 1, 2 * src_window_size[1] - 1)
    dst = (2 * window_size[0] - 1, 2 * window_size[1] - 1)
    if src == dst:
        return table
    grid = table.T.reshape(1, heads, *src).float()
    grid = F.interpolate(grid, size=dst, mode='bicubic', align_corners=False)
    return grid.reshape(heads, -1).T.contiguous().to(table.dtype)


def resize_abs_pos_embed(embed: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """Absolute position embedding (1, L, C) with L square, or (1, C, h, w), to (1, C, *grid)."""
    if embed.dim() == 3:
        side = math.isqrt(embed.shape[1])
        if side * side != embed.shape[1]:
            raise CheckpointError(f'absolute_pos_embed of shape {tuple(embed.shape)} does not '
                                  f'hold a square grid')
        embed = embed.transpose(1, 2).reshape(1, embed.shape[2], side, side)
    if tuple(embed.shape[2:]) == tuple(grid):
        return embed
    return F.interpolate(embed.float(), size=grid, mode='bicubic',
                         align_corners=False).to(embed.dtype)


# --- architecture inference -------------------------------------------------------------------
def infer_arch(sd: Mapping[str, torch.Tensor]) -> Dict[str, object]:
    """Backbone arguments read off a converted state dict: ``type`` ('SwinBackbone' or
    'SwinV2Backbone'), embed_dims, depths, num_heads, patch_size, in_channels,
    use_abs_pos_embed, and for V1 window_size (V2's parameters do not depend on the window)."""
    proj = sd.get('patch_embed.proj.weight')
    if proj is None:
        raise CheckpointError('cannot infer the architecture: no patch_embed.proj.weight')
    v2 = is_swin_v2(sd)
    heads_key = 'cpb_mlp.2.weight' if v2 else 'relative_position_bias_table'
    blocks: Dict[int, int] = {}
    heads: Dict[int, int] = {}
    table_len = None
    for key, value in sd.items():
        m = re.match(r'^layers\.(\d+)\.blocks\.(\d+)\.attn\.' + re.escape(heads_key) + '$', key)
        if m:
            i, j = int(m.group(1)), int(m.group(2))
            blocks[i] = max(blocks.get(i, 0), j + 1)
            heads[i] = value.shape[0] if v2 else value.shape[1]
            table_len = value.shape[0]
    stages = sorted(blocks)
    arch = dict(type='SwinV2Backbone' if v2 else 'SwinBackbone', embed_dims=proj.shape[0],
                depths=tuple(blocks[i] for i in stages),
                num_heads=tuple(heads[i] for i in stages), patch_size=proj.shape[-1],
                in_channels=proj.shape[1], use_abs_pos_embed='absolute_pos_embed' in sd)
    if not v2:
        arch['window_size'] = (math.isqrt(table_len or 0) + 1) // 2
    return arch


# --- loading -----------------------------------------------------------------------------------
def load_state_dict_into(model: torch.nn.Module, sd: Mapping[str, torch.Tensor], source: str,
                         fmt: str, dropped: Optional[Dict[str, List[str]]] = None,
                         strict: bool = True) -> LoadReport:
    """Fit a converted state dict to ``model`` (resizing tables and embeddings), check every
    shape first, then load. Nothing is loaded if any check fails.

    Args:
        strict: raise if the model has parameters that the checkpoint lacks, other than the
            output norms ``norm{i}`` that classification checkpoints do not have.
    Raises:
        CheckpointError: a shape that cannot be fitted (names the key and both shapes), no tensor
            at all in common, or (strict) missing backbone parameters.
    """
    _check_version(model, sd, source)
    own = model.state_dict()
    report = LoadReport(source=source, format=fmt, expected_unused=dict(dropped or {}))
    fitted: Dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key not in own:
            report.unexpected.append(key)
            continue
        target = own[key].shape
        if key.endswith('relative_position_bias_table') and value.shape[1] == target[1]:
            value = resize_relative_position_table(value, model.window_size)
        elif key == 'absolute_pos_embed':
            value = resize_abs_pos_embed(value, tuple(target[2:]))
        if value.shape != target:
            raise CheckpointError(
                f'{source}: {key} has shape {tuple(value.shape)} in the checkpoint but '
                f'{tuple(target)} in the model (is the checkpoint for another Swin variant? model: '
                f'embed_dims={getattr(model, "embed_dims", "?")}, '
                f'depths={getattr(model, "depths", "?")}). Nothing was loaded.')
        if value.shape != sd[key].shape:
            report.resized.append((key, tuple(sd[key].shape), tuple(value.shape)))
        fitted[key] = value
    report.loaded = sorted(fitted)
    report.missing = [k for k in own if k not in fitted]
    if not fitted:
        raise CheckpointError(f'{source}: no tensor of the checkpoint matches the model. '
                              f'{report}')
    serious = [k for k in report.missing if not re.match(r'^norm\d+\.', k)]
    if strict and serious:
        raise CheckpointError(f'{source}: the checkpoint lacks {len(serious)} backbone '
                              f'parameters ({_summarise(serious)}); is it for another Swin '
                              f'variant? Pass strict=False to load it partially. Nothing was '
                              f'loaded.')
    with torch.no_grad():
        for key, value in fitted.items():
            own[key].copy_(value)
    return report


def coordinate_windows(sd: Mapping[str, torch.Tensor]) -> Dict[int, Tuple[int, int]]:
    """Per stage, the window a SwinV2 checkpoint's position coordinates were normalised by (its
    ``pretrained_window_sizes``), read off the stored ``relative_coords_table`` (the official
    release and MMPretrain store it; timm does not): {stage: (ph, pw)}, {} when not stored.

    The table's corner is offset (w - 1) at log2(8 (w - 1) / (p - 1) + 1) / 3; solved for p.
    """
    found: Dict[int, Tuple[int, int]] = {}
    pattern = re.compile(r'^(?:layers|stages)\.(\d+)\.blocks\.0\.attn\.(?:w_msa\.)?'
                         r'relative_coords_table$')
    for key, table in sd.items():
        m = pattern.match(key)
        if not m or table.dim() != 4:
            continue
        windows = ((table.shape[1] + 1) // 2, (table.shape[2] + 1) // 2)
        corner = table[0, -1, -1].double().tolist()
        found[int(m.group(1))] = tuple(
            round(8 * (w - 1) / (2 ** (3 * t) - 1) + 1) if w > 1 and t > 0 else w
            for w, t in zip(windows, corner))
    return found


def _coordinate_notes(model: torch.nn.Module, sd: Mapping[str, torch.Tensor]) -> List[str]:
    """A V2 checkpoint whose coordinates were normalised by other windows than the model's: the
    bias MLP then reads positions it was not trained on; name the setting that matches."""
    from .models.swin_v2 import SwinV2Backbone
    if not isinstance(model, SwinV2Backbone):
        return []
    stored = coordinate_windows(sd)
    own = {i: layer.blocks[0].attn.pretrained_window_size for i, layer in enumerate(model.layers)}
    own = {i: p if p[0] > 0 else model.window_sizes[i] for i, p in own.items()}
    if not stored or all(stored.get(i, p) == p for i, p in own.items()):
        return []
    wanted = [stored.get(i, own[i])[0] for i in sorted(own)]
    return [f'the checkpoint\'s position coordinates were normalised by windows {wanted} (its '
            f'pretrained_window_sizes), the model\'s by {[own[i][0] for i in sorted(own)]}: '
            f'build SwinV2Backbone(..., pretrained_window_sizes={wanted}) to use them as '
            f'trained']


def _check_version(model: torch.nn.Module, sd: Mapping[str, torch.Tensor], source: str) -> None:
    """A V1 checkpoint for a V2 model, or the reverse, named as such (not as missing keys)."""
    from .models.swin_v2 import SwinV2Backbone
    from .models.swin import SwinBackbone
    if not isinstance(model, SwinBackbone):
        return
    model_v2, ckpt_v2 = isinstance(model, SwinV2Backbone), is_swin_v2(sd)
    if model_v2 != ckpt_v2:
        names = {True: "SwinV2 (type='SwinV2Backbone')", False: "Swin V1 (type='SwinBackbone')"}
        raise CheckpointError(f'{source} holds a {names[ckpt_v2]} backbone but the model is '
                              f'{names[model_v2]}; build the backbone type of the checkpoint. '
                              f'Nothing was loaded.')


def load_pretrained(model: torch.nn.Module, source: str, prefix: Optional[str] = None,
                    fmt: Optional[str] = None, strict: bool = True, trust_pickle: bool = False,
                    log: Optional[logging.Logger] = None) -> LoadReport:
    """Load a Swin checkpoint of any known format into ``model`` and log the report.

    Args:
        model: a :class:`SwinBackbone`.
        source: a local path or an http(s) URL.
        prefix: the key prefix of the backbone in a whole-model checkpoint (default: detected).
        fmt: force one of :data:`FORMATS` instead of detecting it.
        strict: see :func:`load_state_dict_into`.
        trust_pickle: allow checkpoints that need full pickle.
    Returns:
        The :class:`LoadReport`, also logged.
    """
    checkpoint = read_checkpoint(source, trust_pickle=trust_pickle)
    sd, rest = extract_state_dict(checkpoint, prefix)
    try:
        converted, fmt, dropped = convert_state_dict(sd, fmt)
    except CheckpointError as err:
        raise CheckpointError(f'{source}: {err}') from None
    if rest:
        dropped['other parts of the model (neck, heads)'] = rest
    report = load_state_dict_into(model, converted, source, fmt, dropped, strict)
    report.notes += _coordinate_notes(model, sd)
    logger_ = log or _mm_logger()
    logger_.info(str(report))
    for note in report.notes:
        logger_.warning(note)
    return report


def _mm_logger() -> logging.Logger:
    """MMEngine's current logger when there is one (so the report lands in the run's log)."""
    try:
        from mmengine.logging import MMLogger
        return MMLogger.get_current_instance()
    except Exception:
        return logger
