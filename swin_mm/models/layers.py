"""Building blocks around the attention: patch embedding, patch merging, MLP, stochastic depth.

Channels-last (B, H, W, C) in and out; parameter names follow the official Swin release.
"""
from __future__ import annotations

from typing import Optional, Type

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..fast import dispatch, fast_enabled
from ..ops.window import Size2, pad_to_multiple, round_up, sizes_are_symbolic, to_2tuple

__all__ = ['PatchEmbed', 'PatchMerging', 'PatchMergingV2', 'Mlp', 'DropPath', 'drop_path']


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
        if sizes_are_symbolic() or Hp != H or Wp != W:  # traced: no guard on the size
            x = F.pad(x, (0, Wp - W, 0, Hp - H))
        # channels-last in, so the convolution writes (B, H/ph, W/pw, C) contiguous and neither the
        # norm nor backward copies it
        x = self.proj(x.contiguous(memory_format=torch.channels_last))
        x = x.permute(0, 2, 3, 1)  # B, H/ph, W/pw, C
        return self.norm(x) if self.norm is not None else x


class PatchMerging(nn.Module):
    """Concatenate each 2x2 neighbourhood, normalise (4C) and project 4C -> 2C (stride 2).

    The concatenation order is the official one: (even row, even col), (odd row, even col),
    (even row, odd col), (odd row, odd col). Odd sizes are zero-padded at the bottom and right.

    Args:
        dim: C, input channels.
        norm_layer: applied to the 4C concatenation, or None.
        fast: products through :class:`swin_mm.fast.dispatch.FastLinear`; None: unless
            ``SWIN_MM_FAST=0``.
    """

    #: SwinV2 (:class:`PatchMergingV2`) projects first, then normalises the 2C channels
    norm_after_reduction = False

    def __init__(self, dim: int, norm_layer: Optional[Type[nn.Module]] = nn.LayerNorm,
                 fast: Optional[bool] = None) -> None:
        super().__init__()
        linear = dispatch.FastLinear if fast_enabled(fast) else nn.Linear
        norm_dim = 2 * dim if self.norm_after_reduction else 4 * dim
        self.norm = norm_layer(norm_dim) if norm_layer is not None else None
        self.reduction = linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, ceil(H / 2), ceil(W / 2), 2C)."""
        x, (Hp, Wp) = pad_to_multiple(x, (2, 2))
        B, C = x.shape[0], x.shape[3]
        # (B, H/2, W/2, col, row, C)
        x = x.view(B, Hp // 2, 2, Wp // 2, 2, C).permute(0, 1, 3, 4, 2, 5)
        x = x.reshape(B, Hp // 2, Wp // 2, 4 * C)
        if self.norm is None:
            return self.reduction(x)
        if self.norm_after_reduction:
            return self.norm(self.reduction(x))
        return self.reduction(self.norm(x))


class PatchMergingV2(PatchMerging):
    """SwinV2's patch merging: the same 2x2 concatenation, projected 4C -> 2C, then normalised
    (LayerNorm over 2C)."""

    norm_after_reduction = True


class Mlp(nn.Module):
    """fc1 -> activation -> dropout -> fc2 -> dropout, on the last dimension.

    Args:
        dim: input and output channels.
        hidden_dim: channels of fc1's output.
        drop: dropout rate.
        act_layer: the activation (the paper's exact GELU by default).
        fast: run the fast paths (:func:`swin_mm.fast.dispatch.mlp`) where they apply; None:
            unless ``SWIN_MM_FAST=0``.
    """

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0,
                 act_layer: Type[nn.Module] = nn.GELU, fast: Optional[bool] = None) -> None:
        super().__init__()
        self.fast = fast_enabled(fast)
        linear = dispatch.FastLinear if self.fast else nn.Linear
        self.fc1 = linear(dim, hidden_dim)
        self.act = act_layer()
        self.fc2 = linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., C) -> (..., C)."""
        if self.fast:
            return dispatch.mlp(self, x)
        return self.forward_reference(x)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` in plain PyTorch."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


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
