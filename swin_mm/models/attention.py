"""Window multi-head self-attention with relative position bias: W-MSA and SW-MSA in one module.

The shift itself (cyclic roll) lives in the block; this module attends inside the windows it is
given, with an optional additive mask per window (regions of the shifted map, padding):

    Attention(Q, K, V) = SoftMax(Q K^T / sqrt(d) + B) V      (the paper's Eq. 4, B the bias)

:func:`window_attention` is that formula for every window and head, through
``F.scaled_dot_product_attention``; the fast paths (:mod:`swin_mm.fast`) are drop-ins for it.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..fast import dispatch, fast_enabled
from ..ops.window import Size2, attention_bias, relative_position_index, to_2tuple

__all__ = ['WindowAttentionBase', 'WindowAttention', 'window_attention']


def window_attention(qkv: torch.Tensor, bias: torch.Tensor, mask: Optional[torch.Tensor],
                     num_heads: int, scale: float, dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T * scale + bias + mask) v of every window and head, heads concatenated.

    Args:
        qkv: (B * nW, N, 3C), the qkv projection's output: channels ordered (q/k/v, head, d),
            windows image-major.
        bias: (h, N, N) relative-position bias, in qkv's dtype.
        mask: (nW, N, N) additive mask shared by the B images, or None (then any windows).
        num_heads: h.
        scale: logit scale.
        dropout_p: dropout on the attention probabilities.
    Returns:
        (B * nW, N, C).
    """
    Bw, N, C3 = qkv.shape
    nW = 1 if mask is None else mask.shape[0]
    d = C3 // (3 * num_heads)
    qkv = qkv.view(-1, nW, N, 3, num_heads, d).permute(3, 0, 1, 4, 2, 5)  # 3, B, nW, h, N, d
    q, k, v = qkv.unbind(0)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_bias(bias, mask),
                                         dropout_p=dropout_p, scale=scale)  # B, nW, h, N, d
    return out.transpose(2, 3).reshape(Bw, N, C3 // 3)


class WindowAttentionBase(nn.Module):
    """What every window attention does around :func:`window_attention`: project to q, k, v,
    attend with a per-head bias and the mask, project back. Subclasses (V1 here, V2 in
    :mod:`.attention_v2`) say how q, k, v are made (:meth:`attention_qkv`), what the bias is
    (:meth:`relative_position_bias`) and the logit ``scale``; the fast paths
    (:func:`swin_mm.fast.dispatch.window_attention`) call the same three.

    Subclasses set ``num_heads``, ``window_size``, ``scale``, ``qkv``, ``attn_drop``, ``proj``,
    ``proj_drop`` and ``fast``.
    """

    #: the q, k, v of :meth:`attention_qkv` are ``self.qkv(x)`` as is (a fast path fuses it)
    plain_qkv_projection = True

    def attention_qkv(self, x: torch.Tensor) -> torch.Tensor:
        """(B * nW, N, C) tokens -> (B * nW, N, 3C) q, k, v, channels (q/k/v, head, d)."""
        raise NotImplementedError

    def relative_position_bias(self) -> torch.Tensor:
        """The bias added to every window's logits: (h, N, N), N = wh * ww."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend within each window.

        Args:
            x: (B * nW, N, C) tokens of B images' windows, window-major within each image.
            mask: (nW, N, N) additive logits shared by the images, or None.
        Returns:
            (B * nW, N, C).
        """
        if self.fast:
            return dispatch.window_attention(self, x, mask)
        return self.forward_reference(x, mask)

    def forward_reference(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None
                          ) -> torch.Tensor:
        """:meth:`forward` in plain PyTorch: q, k, v, :func:`window_attention`, output
        projection."""
        qkv = self.attention_qkv(x)  # B*nW, N, 3C
        bias = self.relative_position_bias().to(qkv.dtype)  # h, N, N
        dropout = self.attn_drop.p if self.training else 0.0
        heads = window_attention(qkv, bias, mask, self.num_heads, self.scale, dropout)
        return self.proj_drop(self.proj(heads))


class WindowAttention(WindowAttentionBase):
    """Multi-head self-attention inside windows, with the paper's learned relative position bias.

    Args:
        dim: channels C of the tokens.
        num_heads: heads h; ``dim`` must be divisible by it.
        window_size: (wh, ww) or an int.
        qkv_bias: learn a bias for query, key and value.
        qk_scale: override of the default scale ``(C / h) ** -0.5``.
        attn_drop: dropout on the attention probabilities (training only).
        proj_drop: dropout after the output projection.
        fast: run the fast paths (:func:`swin_mm.fast.dispatch.window_attention`); None: unless
            ``SWIN_MM_FAST=0``.

    Parameter names follow the official release: ``qkv``, ``proj``,
    ``relative_position_bias_table`` ((2wh-1)(2ww-1), h).
    """

    def __init__(self, dim: int, num_heads: int, window_size: int | Size2,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None,
                 attn_drop: float = 0.0, proj_drop: float = 0.0,
                 fast: Optional[bool] = None) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.fast = fast_enabled(fast)
        linear = dispatch.FastLinear if self.fast else nn.Linear
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = to_2tuple(window_size)
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        self.register_buffer('relative_position_index',
                             relative_position_index(self.window_size).view(-1), persistent=False)
        self.qkv = linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self) -> torch.Tensor:
        """The bias added to every window's logits: (h, N, N), N = wh * ww."""
        n = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index]  # N*N, h
        # contiguous, so that bias + mask is too and SDPA's fused kernels take it as is
        return bias.view(n, n, self.num_heads).permute(2, 0, 1).contiguous()

    def attention_qkv(self, x: torch.Tensor) -> torch.Tensor:
        """(B * nW, N, C) -> (B * nW, N, 3C): the qkv projection."""
        return self.qkv(x)
