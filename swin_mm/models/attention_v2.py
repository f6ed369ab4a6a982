"""SwinV2's window attention (Liu et al., CVPR 2022, "Swin Transformer V2"): scaled cosine
attention with a log-spaced continuous position bias.

    Attention(Q, K, V) = SoftMax(cos(Q, K) * tau_h + B) V,  tau_h = exp(min(logit_scale_h, log 100))
    B = 16 * sigmoid(MLP(log-spaced (dy, dx)))   (a 2 -> 512 -> h MLP with ReLU)

The coordinates are normalised by the *pretrained* window size, so a checkpoint trained with one
window serves another without resizing any table. q and v have their own biases, k none.

Everything around the attention is V1's (:class:`~.attention.WindowAttentionBase`): the cosine
normalisation and the per-head scale are folded into q, k before the shared
:func:`~.attention.window_attention` (logit scale 1), so the fast paths serve V2 unchanged.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..fast import dispatch, fast_enabled
from ..ops.window import Size2, relative_position_index, to_2tuple
from .attention import WindowAttentionBase

__all__ = ['WindowAttentionV2', 'log_spaced_coords', 'cosine_qkv', 'MAX_LOGIT_SCALE']

#: the learned per-head logit scale is clamped to exp(log 100) = 100
MAX_LOGIT_SCALE = math.log(100.0)
#: width of the continuous position bias MLP's hidden layer
CPB_HIDDEN = 512


def log_spaced_coords(window_size: Size2, pretrained_window_size: Size2 = (0, 0)
                      ) -> torch.Tensor:
    """Relative offsets (dy, dx) of a window, normalised to [-8, 8] by the pretrained window
    (the window itself when that is 0) and log-spaced: sign(t) * log2(1 + |t|) / log2(8).

    Returns:
        ((2wh - 1) * (2ww - 1), 2) float32, row-major over (dy, dx) from -(w - 1) to w - 1, the
        order of :func:`~swin_mm.ops.window.relative_position_index`.
    """
    axes = []
    for w, p in zip(window_size, pretrained_window_size):
        norm = (p if p > 0 else w) - 1
        offsets = torch.arange(-(w - 1), w, dtype=torch.float32)
        axes.append(offsets / norm * 8 if norm > 0 else offsets)  # a 1-wide window: offset 0
    coords = torch.stack(torch.meshgrid(*axes, indexing='ij'), -1).view(-1, 2)
    return torch.sign(coords) * torch.log2(coords.abs() + 1.0) / math.log2(8)


def cosine_qkv(qkv: torch.Tensor, num_heads: int, logit_scale: torch.Tensor) -> torch.Tensor:
    """q and k of every head scaled to unit length, q then multiplied by its head's clamped logit
    scale, so that q k^T (with scale 1) is the paper's cos(q, k) * tau.

    Args:
        qkv: (..., 3C), channels ordered (q/k/v, head, d).
        logit_scale: (h, 1, 1) learned log-scales.
    Returns:
        (..., 3C) in the same order.
    """
    lead, C3 = qkv.shape[:-1], qkv.shape[-1]
    q, k, v = qkv.view(*lead, 3, num_heads, C3 // (3 * num_heads)).unbind(-3)
    tau = torch.clamp(logit_scale, max=MAX_LOGIT_SCALE).exp().view(num_heads, 1)
    q = F.normalize(q, dim=-1) * tau.to(q.dtype)
    k = F.normalize(k, dim=-1)
    return torch.stack((q, k, v), -3).view(*lead, C3)


class WindowAttentionV2(WindowAttentionBase):
    """SwinV2's multi-head self-attention inside windows.

    Args:
        dim: channels C of the tokens.
        num_heads: heads h; ``dim`` must be divisible by it.
        window_size: (wh, ww) or an int.
        qkv_bias: learn biases for query and value (``q_bias``, ``v_bias``; key has none).
        qk_scale: must be None (the scale is learned: ``logit_scale``).
        attn_drop: dropout on the attention probabilities (training only).
        proj_drop: dropout after the output projection.
        pretrained_window_size: window the position-bias MLP was trained with (int or pair;
            0: this window).
        fast: as in :class:`~.attention.WindowAttention`.

    Parameter names follow the official release: ``qkv`` (no bias), ``q_bias``, ``v_bias``,
    ``logit_scale`` (h, 1, 1), ``cpb_mlp.0`` (2 -> 512, bias), ``cpb_mlp.2`` (512 -> h), ``proj``.
    """

    plain_qkv_projection = False

    def __init__(self, dim: int, num_heads: int, window_size: int | Size2,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None,
                 attn_drop: float = 0.0, proj_drop: float = 0.0,
                 pretrained_window_size: int | Size2 = 0, fast: Optional[bool] = None) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f'dim {dim} is not divisible by num_heads {num_heads}')
        if qk_scale is not None:
            raise ConfigError(f'qk_scale={qk_scale}: SwinV2 has no fixed logit scale (it learns '
                              f'logit_scale per head); leave qk_scale unset')
        self.fast = fast_enabled(fast)
        linear = dispatch.FastLinear if self.fast else nn.Linear
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = to_2tuple(window_size)
        self.pretrained_window_size = to_2tuple(pretrained_window_size)
        self.scale = 1.0  # folded into q by cosine_qkv
        self.logit_scale = nn.Parameter(torch.full((num_heads, 1, 1), math.log(10.0)))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, CPB_HIDDEN), nn.ReLU(inplace=True),
                                     nn.Linear(CPB_HIDDEN, num_heads, bias=False))
        self.register_buffer('relative_coords_table',
                             log_spaced_coords(self.window_size, self.pretrained_window_size),
                             persistent=False)
        self.register_buffer('relative_position_index',
                             relative_position_index(self.window_size).view(-1), persistent=False)
        self.qkv = linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.v_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def qkv_bias(self) -> Optional[torch.Tensor]:
        """(3C,) bias of the qkv projection: q_bias, zeros for k, v_bias; None without."""
        if self.q_bias is None:
            return None
        return torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))

    def attention_qkv(self, x: torch.Tensor) -> torch.Tensor:
        """(B * nW, N, C) -> (B * nW, N, 3C): projected, q and k cosine-normalised, q scaled."""
        linear = dispatch.fast_linear if self.fast else F.linear
        qkv = linear(x, self.qkv.weight, self.qkv_bias())
        return cosine_qkv(qkv, self.num_heads, self.logit_scale)

    def relative_position_bias(self) -> torch.Tensor:
        """16 * sigmoid(MLP(coordinates)) for every pair of tokens: (h, N, N), N = wh * ww."""
        n = self.window_size[0] * self.window_size[1]
        table = self.cpb_mlp(self.relative_coords_table)  # (2wh-1)(2ww-1), h
        bias = table[self.relative_position_index].view(n, n, self.num_heads)
        return 16 * torch.sigmoid(bias.permute(2, 0, 1).contiguous())

    def extra_repr(self) -> str:
        return (f'dim={self.dim}, window_size={self.window_size}, '
                f'pretrained_window_size={self.pretrained_window_size}, '
                f'num_heads={self.num_heads}')
