"""PNGs of what :mod:`swin_mm.visualize` computes, drawn over the network's input image, and one
HTML page that shows them with captions. matplotlib (Agg), no display needed."""
from __future__ import annotations

import html
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .attention import WindowAttentionMap
from .features import channel_mean, pca_rgb
from .windows import WindowLayout

__all__ = ['pad_image', 'upsample', 'draw_features', 'draw_windows', 'draw_attention', 'draw_cam',
           'write_html']


def _figure(columns: int, rows: int = 1, size: float = 3.2):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def _save(fig, path: str) -> str:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def upsample(values: torch.Tensor, size: Tuple[int, int]) -> np.ndarray:
    """(h, w) or (h, w, 3) map -> the same at ``size`` (H, W) pixels (bilinear), as numpy."""
    x = values.float()
    x = x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None]
    x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)[0]
    return (x[0] if values.dim() == 2 else x.permute(1, 2, 0)).numpy()


def draw_features(image: torch.Tensor, outputs: Sequence[Tuple[int, torch.Tensor]], path: str
                  ) -> str:
    """Per backbone output (stage, (C, h, w)): its first three principal components as RGB,
    and its channel-mean activation over the image."""
    size = tuple(image.shape[:2])
    fig, axes = _figure(len(outputs), 2)
    for col, (stage, feature) in enumerate(outputs):
        axes[0, col].imshow(upsample(pca_rgb(feature), size))
        axes[0, col].set_title(f'stage {stage + 1}: {feature.shape[0]} ch, '
                               f'{feature.shape[1]}x{feature.shape[2]} (PCA)', fontsize=9)
        axes[1, col].imshow(image.numpy())
        axes[1, col].imshow(upsample(channel_mean(feature), size), cmap='inferno', alpha=0.6)
        axes[1, col].set_title('channel mean', fontsize=9)
    return _save(fig, path)


def pad_image(image: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """(H, W, 3) uint8 -> (size[0], size[1], 3), grey where padded (bottom and right)."""
    canvas = torch.full((*size, 3), 128, dtype=torch.uint8)
    h, w = min(size[0], image.shape[0]), min(size[1], image.shape[1])
    canvas[:h, :w] = image[:h, :w]
    return canvas


def draw_windows(image: torch.Tensor, layouts: Sequence[Tuple[str, WindowLayout]], stride: int,
                 path: str) -> str:
    """Side by side, each layout's windows over the image padded to whole windows: tokens
    coloured by (window, region) (tokens of one colour attend to each other), window borders in
    white, padding hatched."""
    import matplotlib.colors as mcolors
    fig, axes = _figure(len(layouts), size=4.5)
    palette = np.array([mcolors.to_rgb(c) for c in
                        list(mcolors.TABLEAU_COLORS.values()) + list(mcolors.CSS4_COLORS.values())
                        [::7]])
    for ax, (title, layout) in zip(axes[0], layouts):
        Hp, Wp = layout.window.shape
        canvas = pad_image(image, (Hp * stride, Wp * stride)).numpy()
        _, labels = torch.unique(layout.group, return_inverse=True)
        colours = palette[labels.numpy() % len(palette)]
        colours = np.repeat(np.repeat(colours, stride, 0), stride, 1)
        ax.imshow(canvas)
        ax.imshow(colours, alpha=0.45)
        pad = np.repeat(np.repeat(layout.padding.numpy(), stride, 0), stride, 1)
        ax.contourf(pad, levels=[0.5, 1.5], colors='none', hatches=['xx'])
        window = layout.window.numpy()
        edges_r = np.nonzero(window[1:] != window[:-1])
        edges_c = np.nonzero(window[:, 1:] != window[:, :-1])
        for r, c in zip(*edges_r):
            ax.plot([c * stride, (c + 1) * stride], [(r + 1) * stride] * 2, 'w-', lw=1.2)
        for r, c in zip(*edges_c):
            ax.plot([(c + 1) * stride] * 2, [r * stride, (r + 1) * stride], 'w-', lw=1.2)
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def _key_map(amap: WindowAttentionMap, values: torch.Tensor, padded: Tuple[int, int]
             ) -> np.ndarray:
    """(Hp, Wp) map with ``values`` (N,) at the keys' tokens, NaN elsewhere."""
    out = np.full(padded, np.nan)
    out[amap.keys[:, 0].numpy(), amap.keys[:, 1].numpy()] = values.numpy()
    return out


def draw_attention(image: torch.Tensor, amap: WindowAttentionMap, padded: Tuple[int, int],
                   stride: int, path: str, max_heads: int = 8) -> str:
    """Row 1: each head's attention probabilities of the query (white cross) over its window's
    keys; row 2: the relative-position bias alone. Over the image padded to whole windows."""
    heads = min(amap.probabilities.shape[0], max_heads)
    fig, axes = _figure(heads, 2)
    canvas = pad_image(image, (padded[0] * stride, padded[1] * stride)).numpy()
    extent = (0, padded[1] * stride, padded[0] * stride, 0)
    qy, qx = (amap.query[0] + 0.5) * stride, (amap.query[1] + 0.5) * stride
    for h in range(heads):
        for row, (values, name, cmap) in enumerate(((amap.probabilities[h], 'attention', 'viridis'),
                                                     (amap.bias[h], 'bias alone', 'coolwarm'))):
            ax = axes[row, h]
            ax.imshow(canvas)
            ax.imshow(_key_map(amap, values, padded), cmap=cmap, alpha=0.75, extent=extent,
                      interpolation='nearest')
            ax.plot([qx], [qy], 'w+', ms=10, mew=2)
            ax.set_title(f'head {h + 1}: {name}', fontsize=9)
    return _save(fig, path)


def draw_cam(image: torch.Tensor, cams: Dict[str, torch.Tensor], path: str,
             box: Optional[Sequence[float]] = None, caption: str = '') -> str:
    """Each CAM (already at the image's size) over the image, the target box drawn."""
    fig, axes = _figure(len(cams), size=4.5)
    for ax, (name, cam) in zip(axes[0], cams.items()):
        ax.imshow(image.numpy())
        ax.imshow(cam.numpy(), cmap='jet', alpha=0.5)
        if box is not None:
            from matplotlib.patches import Rectangle
            x1, y1, x2, y2 = box
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor='white',
                                   lw=2))
        ax.set_title(f'{name} {caption}'.strip(), fontsize=9)
    return _save(fig, path)


def write_html(folder: str, entries: List[Tuple[str, str]], title: str) -> str:
    """index.html in ``folder`` showing each (png file name, caption)."""
    parts = [f'<!doctype html><meta charset="utf-8"><title>{html.escape(title)}</title>',
             f'<h1>{html.escape(title)}</h1>']
    for name, caption in entries:
        parts.append(f'<figure><img src="{html.escape(name)}" style="max-width:100%">'
                     f'<figcaption>{html.escape(caption)}</figcaption></figure>')
    path = os.path.join(folder, 'index.html')
    with open(path, 'w') as f:
        f.write('\n'.join(parts) + '\n')
    return path
