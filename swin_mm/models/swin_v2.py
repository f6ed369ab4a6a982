"""Swin Transformer V2 backbone for dense prediction (Liu et al., CVPR 2022, "Swin Transformer V2:
Scaling Up Capacity and Resolution").

What V2 changes, and nothing else (windows, shift, masks, padding, stages, output norms and the
fast paths are V1's, :mod:`.swin`):

- residual post-norm: x = x + drop_path(norm1(attn(x))); x = x + drop_path(norm2(mlp(x)));
- scaled cosine attention and the log-spaced continuous position bias (:mod:`.attention_v2`);
- patch merging projects 4C -> 2C, then normalises (:class:`~.layers.PatchMergingV2`).

Parameter names are the official release's. Windows are padded (as V1 in detection), never
shrunk to a small map as the classification code does.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..ops import window
from .arguments import resolve_arch
from .attention_v2 import WindowAttentionV2
from .layers import PatchMergingV2
from .swin import SwinBackbone, SwinBlock

__all__ = ['SwinBlockV2', 'SwinV2Backbone']


class SwinBlockV2(SwinBlock):
    """One SwinV2 block: (S)W-MSA and MLP, each normalised after the branch, before the residual.

    Arguments are :class:`~.swin.SwinBlock`'s, plus ``pretrained_window_size`` (int or pair; 0:
    this window) for :class:`~.attention_v2.WindowAttentionV2`; ``qk_scale`` must be None.
    """

    res_post_norm = True
    attention_type = WindowAttentionV2

    def forward_reference(self, x: torch.Tensor, window_ops=window) -> torch.Tensor:
        """:meth:`forward` as the V2 paper has it (Fig. 1): (B, H, W, C) -> (B, H, W, C)."""
        x = x + self.drop_path(self.norm1(self.window_attend(x, window_ops)))
        return x + self.drop_path(self.norm2(self.mlp(x)))


class SwinV2Backbone(SwinBackbone):
    """SwinV2 backbone emitting NCHW feature maps at strides 4, 8, 16, 32, each through its own
    LayerNorm ``norm{i}``: for (B, in_channels, H, W) input, output i is
    (B, C * 2**i, ceil(H / 2**(i+2)), ceil(W / 2**(i+2))).

    Takes every argument of :class:`~.swin.SwinBackbone` (arch names T/S/B/L, out_indices,
    frozen_stages, with_cp, drop_path_rate, fast, init_cfg, ...) except ``qk_scale``, and:

    Args:
        window_size: tokens per window side: an int, or one int per stage (as MMPretrain's
            ``window_size=[16, 16, 16, 8]``).
        pretrained_window_sizes: window each stage's position-bias MLP was trained with (int, or
            one per stage; 0: the stage's own window). A checkpoint trained with window 8 used
            with window 16 wants ``window_size=16, pretrained_window_sizes=8``: its coordinates
            then mean what they meant in pre-training.
        pretrain_img_size: as in V1 (for ``use_abs_pos_embed``); SwinV2's release used 256.
        merge_norm: patch merging's LayerNorm (default True, independent of ``patch_norm``, as
            in the official release).
    """

    block_type = SwinBlockV2
    merging_type = PatchMergingV2

    def __init__(self, arch: Union[str, dict, None] = None, embed_dims: Optional[int] = None,
                 depths: Optional[Sequence[int]] = None,
                 num_heads: Optional[Sequence[int]] = None,
                 window_size: Union[int, Sequence[int]] = 8,
                 pretrained_window_sizes: Union[int, Sequence[int]] = 0,
                 pretrain_img_size: int = 256, merge_norm: bool = True, **kwargs) -> None:
        stages = len(resolve_arch(arch, embed_dims, depths, num_heads)[1])
        windows = _per_stage('window_size', window_size, stages, minimum=1)
        pretrained = _per_stage('pretrained_window_sizes', pretrained_window_sizes, stages,
                                minimum=0)
        options = [dict(window_size=w, pretrained_window_size=p)
                   for w, p in zip(windows, pretrained)]
        for own, extra in zip(options, kwargs.pop('block_options', None) or [{}] * stages):
            own.update(extra)
        super().__init__(arch, embed_dims, depths, num_heads, window_size=windows[0],
                         pretrain_img_size=pretrain_img_size, merge_norm=merge_norm,
                         block_options=options, **kwargs)
        self.pretrained_window_sizes = tuple(pretrained)
        self._init_post_norms()

    def _init_post_norms(self) -> None:
        """The official initialisation zeroes the blocks' norms: each block starts as identity."""
        for stage in self.layers:
            for block in stage.blocks:
                for norm in (block.norm1, block.norm2):
                    nn.init.zeros_(norm.weight)
                    nn.init.zeros_(norm.bias)


def _per_stage(name: str, value: Union[int, Sequence[int]], stages: int, minimum: int) -> list:
    """An int for every stage, or one per stage, each >= ``minimum``."""
    values = [value] * stages if isinstance(value, int) else list(value)
    if len(values) != stages or not all(isinstance(v, int) and v >= minimum for v in values):
        raise ConfigError(f'{name}={value!r}: expected an int >= {minimum} or one per stage '
                          f'({stages} stages)')
    return values
