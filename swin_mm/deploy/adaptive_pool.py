"""Adaptive average pooling that exports to ONNX for any input size.

``nn.AdaptiveAvgPool2d(k)`` exports (TorchScript exporter) only as a fixed ``AveragePool`` for the
example's size, or not at all where the bins overlap; UperNet's pyramid pooling (bins 1, 2, 3, 6)
needs it for every size. This computes the same bins from a summed-area table, with the bin
edges computed from the traced size: ``floor(i H / k)`` to ``ceil((i + 1) H / k)``, PyTorch's
own rule.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['TraceableAdaptiveAvgPool2d', 'make_pooling_traceable']


def _bin_edges(size: torch.Tensor | int, bins: int, device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Start (inclusive) and end (exclusive) of each of ``bins`` bins over ``size`` positions."""
    i = torch.arange(bins, device=device)
    return (i * size) // bins, ((i + 1) * size + bins - 1) // bins


def adaptive_avg_pool2d(x: torch.Tensor, output_size: Tuple[int, int]) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, output_size)`` through cumulative sums.

    Args:
        x: (B, C, H, W) float.
        output_size: (kh, kw) bins.
    Returns:
        (B, C, kh, kw).
    """
    H, W = x.shape[2], x.shape[3]
    # summed-area table with a zero first row and column: S[h, w] = sum of x[:h, :w]
    table = F.pad(x.cumsum(2).cumsum(3), (1, 0, 1, 0))
    (h0, h1), (w0, w1) = (_bin_edges(H, output_size[0], x.device),
                          _bin_edges(W, output_size[1], x.device))
    rows = lambda idx: table.index_select(2, idx)  # noqa: E731
    corner = lambda r, c: rows(r).index_select(3, c)  # noqa: E731
    total = corner(h1, w1) - corner(h0, w1) - corner(h1, w0) + corner(h0, w0)
    area = (h1 - h0)[:, None] * (w1 - w0)[None, :]
    return total / area.to(x.dtype)


class TraceableAdaptiveAvgPool2d(nn.Module):
    """Drop-in for ``nn.AdaptiveAvgPool2d`` with an int or pair output size (no ``None``)."""

    def __init__(self, output_size: int | Tuple[int, int]) -> None:
        super().__init__()
        pair = (output_size, output_size) if isinstance(output_size, int) else output_size
        if any(s is None for s in pair):
            raise ValueError(f'output_size {output_size!r}: None (keep the input size) is not '
                             f'supported')
        self.output_size = tuple(int(s) for s in pair)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return adaptive_avg_pool2d(x, self.output_size)


def make_pooling_traceable(model: nn.Module) -> int:
    """Replace every ``nn.AdaptiveAvgPool2d`` in ``model`` (in place); returns how many. A global
    pool (output 1) is kept: it exports as ``GlobalAveragePool``."""
    count = 0
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.AdaptiveAvgPool2d) and child.output_size not in (1, (1, 1)):
                setattr(module, name, TraceableAdaptiveAvgPool2d(child.output_size))
                count += 1
    return count
