"""A feature map as pictures: its first three principal components as RGB, and the mean over
channels."""
from __future__ import annotations

import torch

__all__ = ['pca_rgb', 'channel_mean']


def pca_rgb(feature: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> (H, W, 3) in [0, 1]: the projections of every position onto the three
    principal components of the positions' feature vectors (each stretched to [0, 1] between its
    1st and 99th percentile), so that positions the backbone represents alike share a colour."""
    C, H, W = feature.shape
    points = feature.detach().double().reshape(C, H * W).T  # HW, C
    points = points - points.mean(0)
    k = min(3, C, H * W)
    _, _, v = torch.linalg.svd(points, full_matrices=False)
    proj = points @ v[:k].T  # HW, k
    if k < 3:
        proj = torch.cat([proj, proj.new_zeros(H * W, 3 - k)], 1)
    low = torch.quantile(proj, 0.01, dim=0)
    high = torch.quantile(proj, 0.99, dim=0)
    rgb = ((proj - low) / (high - low).clamp_min(1e-12)).clamp(0, 1)
    return rgb.reshape(H, W, 3).float()


def channel_mean(feature: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> (H, W): the activation averaged over channels."""
    return feature.detach().float().mean(0)
