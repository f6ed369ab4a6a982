"""Window multi-head self-attention with relative position bias: W-MSA and SW-MSA in one module.

The shift itself (cyclic roll) lives in the block; this module attends inside windows that it is
given, with an optional additive mask per window (regions of the shifted map, padding). Attention
runs through SDPA's fused kernel (:func:`swin_mm.ops.fused_attention.window_sdpa`) with the bias
(+ mask) as its float mask. While autograd records (and no attention dropout):
- on CUDA, :func:`swin_mm.ops.efficient_attention.efficient_window_attention` calls the
  memory-efficient kernel itself (no probabilities kept, the learned bias gets its gradient, and
  unlike SDPA's autograd it keeps bias and mask apart instead of their per-window sum);
- on CPU, whose fused kernel gives its mask no gradient,
  :func:`swin_mm.ops.recompute.projected_window_attention` in fp32 (the qkv projection inside,
  its gradients taken range of windows by range), :func:`swin_mm.ops.recompute.window_attention`
  otherwise (autocast): SDPA forward, probabilities recomputed in backward.
Under ``torch.compile`` CUDA training takes plain SDPA, which the compiler traces.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from ..ops.efficient_attention import efficient_window_attention
from ..ops.fused_attention import split_heads, window_sdpa
from ..ops.gemm import Linear
from ..ops.linear_gelu import chunkable
from ..ops.recompute import projected_window_attention, window_attention
from ..ops.window import Size2, relative_position_index, to_2tuple

__all__ = ['WindowAttention']

#: Devices where training calls the fused kernel itself, saving bias and mask apart.
EFFICIENT_TRAINING_DEVICES = ('cuda',)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with the paper's learned relative position bias.

    Args:
        dim: channels C of the tokens.
        num_heads: heads h; ``dim`` must be divisible by it.
        window_size: (wh, ww) or an int.
        qkv_bias: learn a bias for query, key and value.
        qk_scale: override of the default scale ``(C / h) ** -0.5``.
        attn_drop: dropout on the attention probabilities (training only).
        proj_drop: dropout after the output projection.

    Parameter names follow the official release: ``qkv``, ``proj``,
    ``relative_position_bias_table`` ((2wh-1)(2ww-1), h).
    """

    def __init__(self, dim: int, num_heads: int, window_size: int | Size2,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None,
                 attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = to_2tuple(window_size)
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        self.register_buffer('relative_position_index',
                             relative_position_index(self.window_size).view(-1), persistent=False)
        self.qkv = Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self) -> torch.Tensor:
        """The bias added to every window's logits: (h, N, N), N = wh * ww."""
        n = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index]  # N*N, h
        # contiguous (a copy of h*N*N numbers), so that bias + mask is too and SDPA takes it as is
        return bias.view(n, n, self.num_heads).permute(2, 0, 1).contiguous()

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend within each window.

        Args:
            x: (B * nW, N, C) tokens of B images' windows, window-major within each image.
            mask: (nW, N, N) additive logits shared by the images, or None.
        Returns:
            (B * nW, N, C).
        """
        mask = None if mask is None else mask[:, None]  # nW, 1, N, N
        dropout = self.attn_drop.p if self.training else 0.0
        if torch.is_grad_enabled() and dropout == 0.0 and chunkable(x, self.qkv.weight):
            # CPU training in fp32: the qkv projection's backward runs with the attention's
            out = projected_window_attention(x, self.qkv.weight, self.qkv.bias,
                                             self.relative_position_bias(),
                                             None if mask is None else mask.to(x.dtype),
                                             self.num_heads, self.scale)
        else:
            qkv = self.qkv(x)  # B*nW, N, 3C
            bias = self.relative_position_bias().to(qkv.dtype)  # h, N, N
            out = self._attend(qkv, bias, mask, dropout)
        return self.proj_drop(self.proj(out))

    def _attend(self, qkv: torch.Tensor, bias: torch.Tensor, mask: Optional[torch.Tensor],
                dropout: float) -> torch.Tensor:
        """(B * nW, N, 3C) -> (B * nW, N, C) on the path that suits the device and the mode."""
        recording = torch.is_grad_enabled() and dropout == 0.0
        on_cuda = qkv.device.type in EFFICIENT_TRAINING_DEVICES
        if recording and on_cuda and not torch.compiler.is_compiling():  # compile traces SDPA
            return efficient_window_attention(qkv, bias, mask, self.num_heads, self.scale)
        mask = None if mask is None else mask.to(qkv.dtype)
        if recording and not on_cuda:  # CPU: recompute the probabilities in backward
            return window_attention(qkv, bias, mask, self.num_heads, self.scale)
        Bw, N, C3 = qkv.shape
        nW = 1 if mask is None else mask.shape[0]
        q, k, v = split_heads(qkv, nW, self.num_heads).unbind(0)  # each B, nW, h, N, d
        attn_mask = bias if mask is None else bias + mask  # (nW,) h, N, N
        out = window_sdpa(q, k, v, attn_mask, self.scale, dropout)
        return out.transpose(2, 3).reshape(Bw, N, C3 // 3)  # no copy: see window_sdpa
