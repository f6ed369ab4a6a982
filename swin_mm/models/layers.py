"""Building blocks around the attention: patch embedding, patch merging, MLP, stochastic depth.

Channels-last (B, H, W, C) in and out; parameter names follow the official Swin release.
"""
from __future__ import annotations

from typing import Optional, Type

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops.gemm import Linear
from ..ops.linear_gelu import chunkable, mlp_inference
from ..ops.recompute import chunked_mlp, gelu_linear
from ..ops.window import Size2, pad_to_multiple, round_up, to_2tuple

__all__ = ['PatchEmbed', 'PatchMerging', 'Mlp', 'DropPath', 'drop_path']


class PatchEmbed(nn.Module):
    """Patch partition + linear embedding: a strided convolution, then an optional LayerNorm.

    The image is zero-padded at the bottom and right to a multiple of the patch size.

    Args:
        in_channels: channels of the image.
        embed_dim: C, channels of each token.
        patch_size: (ph, pw) pixels per patch, or an int.
        norm_layer: applied to the tokens, or None.
    """

    def __init__(self, in_channels: int = 3, embed_dim: int = 96, patch_size: int | Size2 = 4,
                 norm_layer: Optional[Type[nn.Module]] = nn.LayerNorm) -> None:
        super().__init__()
        self.patch_size = to_2tuple(patch_size)
        self.proj = nn.Conv2d(in_channels, embed_dim, self.patch_size, stride=self.patch_size)
        self.norm = norm_layer(embed_dim) if norm_layer is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) image -> (B, ceil(H / ph), ceil(W / pw), C) tokens."""
        ph, pw = self.patch_size
        H, W = x.shape[2], x.shape[3]
        Hp, Wp = round_up(H, ph), round_up(W, pw)
        if torch.compiler.is_compiling() or Hp != H or Wp != W:  # traced: no guard on the size
            x = F.pad(x, (0, Wp - W, 0, Hp - H))
        # channels-last in, so the convolution writes (B, H/ph, W/pw, C) contiguous and neither the
        # norm nor backward copies it (Swin-T 800x1216 stem forward+backward: 79 -> 34 ms on CPU)
        x = self.proj(x.contiguous(memory_format=torch.channels_last))
        x = x.permute(0, 2, 3, 1)  # B, H/ph, W/pw, C
        return self.norm(x) if self.norm is not None else x


class PatchMerging(nn.Module):
    """Concatenate each 2x2 neighbourhood and project 4C -> 2C (stride 2).

    The concatenation order is the official one: (even row, even col), (odd row, even col),
    (even row, odd col), (odd row, odd col). Odd sizes are zero-padded at the bottom and right.

    Args:
        dim: C, input channels.
        norm_layer: applied to the 4C concatenation.
    """

    def __init__(self, dim: int, norm_layer: Type[nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        self.norm = norm_layer(4 * dim)
        self.reduction = Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, ceil(H / 2), ceil(W / 2), 2C)."""
        x, (Hp, Wp) = pad_to_multiple(x, (2, 2))
        B, C = x.shape[0], x.shape[3]
        # (B, H/2, W/2, col, row, C)
        x = x.view(B, Hp // 2, 2, Wp // 2, 2, C).permute(0, 1, 3, 4, 2, 5)
        x = x.reshape(B, Hp // 2, Wp // 2, 4 * C)
        return self.reduction(self.norm(x))


class Mlp(nn.Module):
    """fc1 -> GELU -> dropout -> fc2 -> dropout, on the last dimension.

    With the exact GELU and no active dropout: while autograd records, GELU's output is recomputed
    in backward instead of being kept, on CPU (fp32) over chunks of tokens in forward and backward
    (:func:`swin_mm.ops.recompute.chunked_mlp`), elsewhere after fc1
    (:func:`swin_mm.ops.recompute.gelu_linear`); in inference fc1 and GELU run as one fused kernel
    on CPU (:func:`swin_mm.ops.linear_gelu.mlp_inference`).
    """

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0,
                 act_layer: Type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.fc1 = Linear(dim, hidden_dim)
        self.act = act_layer()
        self.fc2 = Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., C) -> (..., C)."""
        plain = not self.exact_gelu() or (self.training and self.drop.p > 0)
        if not plain and not torch.is_grad_enabled():  # inference: fc1 + GELU in one pass on CPU
            return mlp_inference(x, self.fc1, self.fc2)
        if not plain and chunkable(x, self.fc1.weight):  # training on CPU: chunks of tokens
            return chunked_mlp(x, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        hidden = self.fc1(x)
        if not plain:
            return gelu_linear(hidden, self.fc2.weight, self.fc2.bias)
        return self.drop(self.fc2(self.drop(self.act(hidden))))

    def exact_gelu(self) -> bool:
        """Whether the activation is the paper's exact (erf) GELU, which the fused paths run."""
        return isinstance(self.act, nn.GELU) and self.act.approximate == 'none'


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch with probability ``drop_prob``
    and scale the kept ones by 1 / (1 - drop_prob). Identity outside training.

    Args:
        x: (B, ...) residual branch.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    return x * x.new_empty(shape).bernoulli_(keep).div_(keep)


class DropPath(nn.Module):
    """Module form of :func:`drop_path`."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob:.3f}'
