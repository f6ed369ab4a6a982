"""A loss for gradient comparisons."""
from typing import Sequence

import torch


def projection_loss(outputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum of the outputs' means weighted by fixed random tensors (seeded by output index), so the
    same for every model and device. Not a sum of squares: Swin's outputs are LayerNorm'ed, so
    their sum of squares is nearly constant and its gradient mostly rounding."""
    total = 0
    for i, out in enumerate(outputs):
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(i),
                              dtype=torch.float64)
        total = total + (out * weights.to(out)).mean()
    return total
