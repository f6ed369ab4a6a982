"""Swin Transformer backbone for dense prediction (Liu et al., ICCV 2021,
"Swin Transformer: Hierarchical Vision Transformer using Shifted Windows").

Channels-last (B, H, W, C) inside; NCHW feature maps at strides 4, 8, 16, 32 out. Any input size:
the image is padded to the patch size, every block pads to its window size (pad, then shift), and
patch merging pads odd sizes. Parameter names are the official release's, so its checkpoints load
as they are.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Type, Union

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..errors import ConfigError
from ..fast import dispatch, fast_enabled
from ..ops import window
from ..ops.window import Size2, to_2tuple, window_attention_mask
from .arguments import (ARCH_SETTINGS, check_mmdet_compat, check_stage_indices,
                        init_cfg_list, pretrain_grid, resolve_arch, unknown_arguments_message)
from .attention import WindowAttention
from .layers import DropPath, Mlp, PatchEmbed, PatchMerging

__all__ = ['ARCH_SETTINGS', 'SwinBlock', 'SwinStage', 'SwinBackbone']


class SwinBlock(nn.Module):
    """One Swin Transformer block: (S)W-MSA and MLP, each pre-norm with a residual (the paper's
    Eq. 3).

    Args:
        dim: channels C.
        num_heads: attention heads.
        window_size: (wh, ww) or an int.
        shift: shift the windows by half a window (SW-MSA) instead of W-MSA.
        mlp_ratio: hidden width of the MLP over C.
        qkv_bias, qk_scale, drop, attn_drop: as in :class:`WindowAttention` and :class:`Mlp`.
        drop_path: stochastic-depth probability of both residual branches.
        mask_padding: mask padded tokens out of attention (off: the paper's behaviour).
        fast: run the fast paths (:func:`swin_mm.fast.dispatch.swin_block`) where they apply;
            None: unless ``SWIN_MM_FAST=0``.
        attention_kwargs: passed on to the attention (SwinV2's ``pretrained_window_size``).
    """

    #: V1 normalises before each branch; SwinV2 after it (:class:`~.swin_v2.SwinBlockV2`)
    res_post_norm = False
    attention_type: Type[nn.Module] = WindowAttention

    def __init__(self, dim: int, num_heads: int, window_size: int | Size2 = 7,
                 shift: bool = False, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, drop: float = 0.0, attn_drop: float = 0.0,
                 drop_path: float = 0.0, mask_padding: bool = False,
                 fast: Optional[bool] = None, **attention_kwargs) -> None:
        super().__init__()
        self.fast = fast_enabled(fast)
        self.window_size = to_2tuple(window_size)
        self.shift_size = tuple(w // 2 for w in self.window_size) if shift else (0, 0)
        self.mask_padding = mask_padding
        self.norm1 = nn.LayerNorm(dim)
        self.attn = self.attention_type(dim, num_heads, self.window_size, qkv_bias, qk_scale,
                                        attn_drop, drop, fast=self.fast, **attention_kwargs)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop, fast=self.fast)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, H, W, C)."""
        if self.fast:
            return dispatch.swin_block(self, x)
        return self.forward_reference(x)

    def forward_reference(self, x: torch.Tensor, window_ops=window) -> torch.Tensor:
        """:meth:`forward` as the paper has it; ``window_ops`` supplies ``shift_and_partition``
        and ``reverse_and_unshift`` (:mod:`swin_mm.ops.window`, or a drop-in with the same two
        functions)."""
        x = x + self.drop_path(self.window_attend(self.norm1(x), window_ops))
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def window_attend(self, x: torch.Tensor, window_ops=window) -> torch.Tensor:
        """(S)W-MSA of a (B, H, W, C) map -> (B, H, W, C): pad, shift (roll), partition; attend;
        reverse, shift back, crop."""
        H, W = x.shape[1], x.shape[2]
        windows, padded_size = window_ops.shift_and_partition(x, self.window_size,
                                                              self.shift_size)  # B*nW, N, C
        mask = window_attention_mask((H, W), padded_size, self.window_size, self.shift_size,
                                     self.mask_padding, x.device)  # nW, N, N or None
        return window_ops.reverse_and_unshift(self.attn(windows, mask), self.window_size,
                                              self.shift_size, (H, W))  # B, H, W, C


class SwinStage(nn.Module):
    """``depth`` blocks alternating W-MSA and SW-MSA, then optional patch merging.

    Args:
        dim: channels C of the stage.
        depth: number of blocks.
        drop_path: per-block stochastic-depth probabilities (length ``depth``).
        downsample: end with :class:`PatchMerging` (C -> 2C, stride 2).
        merge_norm: the patch merging's LayerNorm (MMDetection drops it with ``patch_norm``).
        with_cp: gradient checkpointing per block while training.
        fast: as in :class:`SwinBlock`, for the blocks and the patch merging.
        block_type: the block (:class:`SwinBlock`, or SwinV2's).
        merging_type: the patch merging (:class:`PatchMerging`, or SwinV2's), built as
            ``merging_type(dim, norm_layer, fast=fast)``.
        block_kwargs: passed to every block.
    """

    def __init__(self, dim: int, depth: int, num_heads: int, drop_path: Sequence[float],
                 downsample: bool, merge_norm: bool = True, with_cp: bool = False,
                 fast: Optional[bool] = None, block_type: Type[nn.Module] = SwinBlock,
                 merging_type: Type[nn.Module] = PatchMerging, **block_kwargs) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.blocks = nn.ModuleList(
            block_type(dim, num_heads, shift=j % 2 == 1, drop_path=drop_path[j], fast=fast,
                       **block_kwargs)
            for j in range(depth))
        self.downsample = merging_type(dim, nn.LayerNorm if merge_norm else None,
                                       fast=fast) if downsample else None

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, H, W, C) -> the stage's output (B, H, W, C) and the next stage's input
        (B, ceil(H / 2), ceil(W / 2), 2C), the latter the output itself without downsampling."""
        for block in self.blocks:
            if self.with_cp and self.training and x.requires_grad:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x, (self.downsample(x) if self.downsample is not None else x)


class SwinBackbone(nn.Module):
    """Swin Transformer backbone emitting NCHW feature maps at strides 4, 8, 16, 32.

    For an input (B, in_channels, H, W), output ``i`` (for ``i`` in ``out_indices``) is
    (B, C * 2**i, ceil(H / 2**(i+2)), ceil(W / 2**(i+2))), each through its own LayerNorm
    ``norm{i}``.
    Accepts the constructor arguments of MMDetection's ``SwinTransformer`` so its configs work
    after renaming the type.

    Args:
        arch: 'tiny' | 'small' | 'base' | 'large' (or 't', 's', 'b', 'l'), or a dict of
            embed_dims, depths, num_heads. Explicit ``embed_dims``/``depths``/``num_heads`` win.
        pretrain_img_size: image size (pixels) of the absolute position embedding's grid.
        in_channels: image channels.
        patch_size: pixels per patch (the stride of the first output).
        window_size: tokens per window side, int or (wh, ww).
        mlp_ratio: MLP hidden width over C.
        qkv_bias, qk_scale: attention's qkv bias and logit scale override.
        drop_rate, attn_drop_rate: dropout after embeddings/projections, and on attention.
        drop_path_rate: stochastic depth, linear from 0 to this over all blocks.
        patch_norm: LayerNorm after the patch embedding and (as in MMDetection) in patch
            merging.
        merge_norm: LayerNorm in patch merging regardless of ``patch_norm`` (None: follow it).
            The official release keeps it when ``patch_norm=False``: ``merge_norm=True``.
        use_abs_pos_embed: learned absolute position embedding, resized to every input's grid.
        out_indices: which stages to emit; stages after the last one are not built (they would
            be computed for nothing, and get no gradient, which DDP refuses).
        frozen_stages: -1 none; 0 freezes the patch embedding; k also freezes stages 1..k
            (and their output norms), kept in eval mode.
        with_cp: gradient checkpointing per block (saves activation memory while training).
        mask_padding: mask window padding out of attention (off: the paper's behaviour).
        fast: run the fast paths beside the reference model (:mod:`swin_mm.fast`); False, or
            ``SWIN_MM_FAST=0`` in the environment, keeps every module plain PyTorch
            (``nn.Linear``, SDPA) for export, tracing and debugging. Same weights, same keys.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` loads weights in
            :meth:`init_weights` (any Swin checkpoint format is detected); MMEngine's other
            initialisers, and lists of them, are applied there too.
        pretrained: deprecated alias for ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
        block_options: per-stage extra arguments of the blocks, one dict per stage, overriding
            the common ones (SwinV2 passes its per-stage windows here).
        convert_weights: accepted for MMDetection compatibility; formats are detected.
        strides, act_cfg, norm_cfg: accepted for MMDetection compatibility; only the paper's
            values are supported.
    """

    #: what the stages are built of (SwinV2Backbone swaps both)
    block_type: Type[nn.Module] = SwinBlock
    merging_type: Type[nn.Module] = PatchMerging

    def __init__(self, arch: Union[str, dict, None] = None, embed_dims: Optional[int] = None,
                 depths: Optional[Sequence[int]] = None, num_heads: Optional[Sequence[int]] = None,
                 pretrain_img_size: int | Size2 = 224, in_channels: int = 3,
                 patch_size: int = 4, window_size: int | Size2 = 7, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 patch_norm: bool = True, merge_norm: Optional[bool] = None,
                 use_abs_pos_embed: bool = False,
                 out_indices: Sequence[int] = (0, 1, 2, 3), frozen_stages: int = -1,
                 with_cp: bool = False, mask_padding: bool = False, fast: bool = True,
                 init_cfg: Union[dict, List[dict], None] = None,
                 pretrained: Optional[str] = None,
                 block_options: Optional[Sequence[dict]] = None,
                 convert_weights: bool = False, strides: Optional[Sequence[int]] = None,
                 act_cfg: Optional[dict] = None, norm_cfg: Optional[dict] = None,
                 **unknown) -> None:
        super().__init__()
        if unknown:
            raise TypeError(unknown_arguments_message(unknown, _known_arguments(type(self)),
                                                      type(self).__name__))
        dims, depths, num_heads = resolve_arch(arch, embed_dims, depths, num_heads)
        check_mmdet_compat(patch_size, len(depths), strides, act_cfg, norm_cfg)
        num_stages = len(depths)
        out_indices = check_stage_indices(out_indices, frozen_stages, num_stages)
        grid = pretrain_grid(pretrain_img_size, patch_size)
        cfgs = init_cfg_list(init_cfg, pretrained)
        self.init_cfg = cfgs[0] if len(cfgs) == 1 else cfgs or None
        self.fast = fast_enabled(fast)
        self.in_channels = in_channels
        self.embed_dims = dims
        self.depths = depths
        self.num_heads = num_heads
        self.patch_size = patch_size
        self.window_size = to_2tuple(window_size)
        block_options = list(block_options or [{}] * num_stages)
        if len(block_options) != num_stages:
            raise ConfigError(f'block_options has {len(block_options)} entries for '
                              f'{num_stages} stages')
        #: (wh, ww) of every stage
        self.window_sizes = tuple(to_2tuple(o.get('window_size', window_size))
                                  for o in block_options)
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.num_features = tuple(dims * 2 ** i for i in range(num_stages))

        self.patch_embed = PatchEmbed(in_channels, dims, patch_size,
                                      nn.LayerNorm if patch_norm else None)
        if use_abs_pos_embed:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, dims, *grid))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        else:
            self.absolute_pos_embed = None
        self.pos_drop = nn.Dropout(drop_rate)

        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        merge_norm = patch_norm if merge_norm is None else merge_norm
        last = max(out_indices)  # stages after the last output would get no gradient (DDP fails)
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths[:last + 1]):
            first = sum(depths[:i])
            block_kwargs = dict(window_size=self.window_size, mlp_ratio=mlp_ratio,
                                qkv_bias=qkv_bias, qk_scale=qk_scale, drop=drop_rate,
                                attn_drop=attn_drop_rate, mask_padding=mask_padding)
            block_kwargs.update(block_options[i])
            self.layers.append(SwinStage(
                self.num_features[i], depth, num_heads[i], rates[first:first + depth],
                downsample=i < last, merge_norm=merge_norm, with_cp=with_cp, fast=self.fast,
                block_type=self.block_type, merging_type=self.merging_type, **block_kwargs))
        for i in out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(self.num_features[i]))
        self.apply(_init_linear_and_norm)
        self._freeze_stages()

    # --- what the backbone emits ---------------------------------------------------------------
    @classmethod
    def channels_of(cls, cfg: dict) -> Tuple[int, ...]:
        """Channels of every stage (not only the emitted ones) of the backbone that a config dict
        of SwinBackbone arguments would build, without building it (unknown arguments raise)."""
        known = _known_arguments(cls) + ['type', '_scope_']
        unknown = [k for k in cfg if k not in known]
        if unknown:
            raise TypeError(unknown_arguments_message(unknown, _known_arguments(cls),
                                                      cls.__name__))
        dims, depths, _ = resolve_arch(cfg.get('arch'), cfg.get('embed_dims'), cfg.get('depths'),
                                        cfg.get('num_heads'))
        return tuple(dims * 2 ** i for i in range(len(depths)))

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each emitted map, in ``out_indices`` order (e.g. FPN ``in_channels``)."""
        return tuple(self.num_features[i] for i in self.out_indices)

    @property
    def strides(self) -> Tuple[int, ...]:
        """Stride in pixels of each emitted map, in ``out_indices`` order."""
        return tuple(self.patch_size * 2 ** i for i in self.out_indices)

    @property
    def size_divisibility(self) -> int:
        """Input sizes that are multiples of this need no padding anywhere inside the backbone."""
        strides = [self.patch_size * 2 ** i * w for i, ws in enumerate(self.window_sizes)
                   for w in ws]
        return math.lcm(self.patch_size * 2 ** (len(self.depths) - 1), *strides)

    def output_shape(self) -> Dict[str, Dict[str, int]]:
        """detectron2-style description: ``{'stage{i}': {'channels': c, 'stride': s}}``."""
        return {f'stage{i}': dict(channels=c, stride=s)
                for i, c, s in zip(self.out_indices, self.out_channels, self.strides)}

    # --- forward -------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(B, in_channels, H, W) float image -> tuple of (B, C_i, H_i, W_i) maps for out_indices.

        Non-tensor, non-4-D, wrong-channel, empty or non-floating-point input raises a ValueError or
        TypeError saying what was expected. NaN/inf values are not checked (that would synchronise
        the device every call): they propagate to that image's outputs, never to other images.
        """
        self._check_input(x)
        with dispatch.forward_span(self.fast):  # weights are constant within one forward
            return self._features(x)

    def _features(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.patch_embed(x)  # B, Wh, Ww, C
        if self.absolute_pos_embed is not None:
            pos = F.interpolate(self.absolute_pos_embed, size=x.shape[1:3], mode='bicubic',
                                align_corners=False)
            x = x + pos.permute(0, 2, 3, 1)
        x = self.pos_drop(x)
        outs = []
        for i, stage in enumerate(self.layers):
            out, x = stage(x)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(out)
                outs.append(out.permute(0, 3, 1, 2).contiguous())  # B, C_i, H_i, W_i
        return tuple(outs)

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f'SwinBackbone expects a torch.Tensor, got {type(x).__name__}')
        if x.dim() != 4:
            raise ValueError(f'SwinBackbone expects a 4-D (B, C, H, W) image batch, got shape '
                             f'{tuple(x.shape)}')
        if torch.jit.is_tracing():  # traced sizes are tensors: the exporter checks its example
            return
        if x.shape[1] != self.in_channels:
            raise ValueError(f'SwinBackbone expects {self.in_channels} input channels, got '
                             f'{x.shape[1]} (input shape {tuple(x.shape)})')
        if x.numel() == 0:
            raise ValueError(f'SwinBackbone got an empty input of shape {tuple(x.shape)}')
        if not x.is_floating_point():
            raise TypeError(f'SwinBackbone expects a floating-point image, got {x.dtype}; '
                            f'convert it with .float()')

    # --- training state ------------------------------------------------------------------------
    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules: List[nn.Module] = [self.patch_embed, self.pos_drop]
        for i in range(min(self.frozen_stages, len(self.layers))):
            modules.append(self.layers[i])
            if i in self.out_indices:
                modules.append(getattr(self, f'norm{i}'))
        return modules

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0 and self.absolute_pos_embed is not None:
            self.absolute_pos_embed.requires_grad_(False)
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad_(False)

    def train(self, mode: bool = True) -> 'SwinBackbone':
        """Set training mode, keeping frozen stages in eval. Returns self."""
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (called by MMEngine's runner): MMEngine's initialisers (``Kaiming``,
        ``Constant``, ...) first, then ``Pretrained`` checkpoints through swin_mm's loader, which
        detects every Swin format.

        The official random initialisation (truncated normal, std 0.02) happens in the
        constructor, so a model is usable without this call.
        """
        cfgs = init_cfg_list(self.init_cfg, None)
        others = [c for c in cfgs if c['type'] != 'Pretrained']
        if others:
            try:
                from mmengine.model import initialize
            except ImportError as err:
                raise ImportError(f'init_cfg {others} needs MMEngine\'s initialisers: '
                                  f'pip install mmengine') from err
            initialize(self, others)
        from ..checkpoint import load_pretrained
        for cfg in cfgs:
            if cfg['type'] == 'Pretrained':
                load_pretrained(self, cfg['checkpoint'], prefix=cfg.get('prefix'))


def _known_arguments(cls: type) -> List[str]:
    """Constructor arguments of ``cls`` and of the classes it passes ``**kwargs`` on to."""
    import inspect
    names: List[str] = []
    for klass in cls.__mro__:
        if '__init__' not in vars(klass) or klass is nn.Module:
            continue
        params = inspect.signature(klass.__init__).parameters
        names += [p for p in params if p not in ('self', 'unknown', 'kwargs') and p not in names]
        if not any(p.kind == p.VAR_KEYWORD and p.name == 'kwargs' for p in params.values()):
            break
    return names


def _init_linear_and_norm(module: nn.Module) -> None:
    """The official initialisation: truncated normal (std 0.02) for linear weights, zero biases,
    LayerNorm weight 1 and bias 0."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
