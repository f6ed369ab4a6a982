"""Class activation maps of a backbone output: Grad-CAM (Selvaraju et al., ICCV 2017), its
element-wise form HiResCAM (Draelos and Carin, 2020) and Eigen-CAM (Muhammad and Yeasin, IJCNN
2020), written from their definitions (the ``grad-cam`` package needs torchvision)."""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = ['grad_cam', 'hires_cam', 'eigen_cam', 'mass_inside']


def grad_cam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """ReLU(sum_k alpha_k A_k), alpha_k the spatial mean of d score / d A_k.

    Args:
        activations, gradients: (C, H, W) a feature map and the target score's gradient there.
    Returns:
        (H, W) >= 0.
    """
    weights = gradients.float().mean((1, 2))
    return torch.relu((weights[:, None, None] * activations.float()).sum(0))


def hires_cam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """ReLU(sum_k dscore/dA_k * A_k), position by position: Grad-CAM without averaging the
    gradient over the map, so the map is non-zero only where the score depends on the features
    (for a detector's box: the box's receptive field).

    Args:
        activations, gradients: (C, H, W).
    Returns:
        (H, W) >= 0.
    """
    return torch.relu((gradients.float() * activations.float()).sum(0))


def eigen_cam(activations: torch.Tensor) -> torch.Tensor:
    """The projection of every position's (centred) feature vector onto the first principal
    component, ReLU'd; gradient-free. An SVD's sign is arbitrary: the one that makes the largest
    deviation positive is taken (the component's outlying side, where objects stand out from
    the background that fills most of an image).

    Args:
        activations: (C, H, W).
    Returns:
        (H, W) >= 0.
    """
    C, H, W = activations.shape
    points = activations.detach().double().reshape(C, H * W).T  # HW, C
    points = points - points.mean(0)
    _, _, v = torch.linalg.svd(points, full_matrices=False)
    proj = points @ v[0]
    if proj.max() < -proj.min():
        proj = -proj
    return torch.relu(proj).reshape(H, W).float()


def mass_inside(cam: torch.Tensor, box: Sequence[float]) -> float:
    """Fraction of a non-negative map's mass inside ``box`` (x1, y1, x2, y2), in the map's pixel
    coordinates (pixel (i, j) covers [j, j+1) x [i, i+1); partial pixels count pro rata)."""
    H, W = cam.shape
    x1, y1, x2, y2 = (float(v) for v in box)
    cols = (torch.arange(W) + 1.0).clamp(max=x2) - torch.arange(W).float().clamp(min=x1)
    rows = (torch.arange(H) + 1.0).clamp(max=y2) - torch.arange(H).float().clamp(min=y1)
    inside = rows.clamp(min=0)[:, None] * cols.clamp(min=0)[None, :]
    total = cam.sum()
    return float((cam * inside).sum() / total) if total > 0 else 0.0
