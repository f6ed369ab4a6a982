"""The window layout of a Swin block over its (padded) token map: which window each token is
attended in, and which region of the shifted map it belongs to, in the map's own coordinates
(W-MSA: a regular grid; SW-MSA: the grid moved by half a window, whose windows at the bottom and
right edges gather regions that the cyclic shift brought together and the mask keeps apart)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..ops.window import Size2, region_ids, round_up

__all__ = ['WindowLayout', 'window_layout']


@dataclass
class WindowLayout:
    """Per token of the padded (Hp, Wp) map, in its own (unshifted) coordinates.

    Attributes:
        window: (Hp, Wp) index of the window the token is attended in (row-major over the window
            grid of the shifted map, as :func:`~swin_mm.ops.window.window_partition` orders them).
        region: (Hp, Wp) region label (0..8) of the shifted-window mask; two tokens of one window
            attend to each other only if their labels agree.
        padding: (Hp, Wp) True where the token is padding (row >= H or column >= W).
        image_size: (H, W) real tokens; window_size, shift_size: the block's.
    """
    window: torch.Tensor
    region: torch.Tensor
    padding: torch.Tensor
    image_size: Size2
    window_size: Size2
    shift_size: Size2

    @property
    def group(self) -> torch.Tensor:
        """(Hp, Wp) one label per (window, region): the sets of tokens that attend each other."""
        return self.window * 9 + self.region


def window_layout(image_size: Size2, window_size: Size2, shift_size: Size2) -> WindowLayout:
    """The :class:`WindowLayout` of a block with these sizes on an (H, W) token map."""
    (H, W), (wh, ww), (sh, sw) = image_size, window_size, shift_size
    Hp, Wp = round_up(H, wh), round_up(W, ww)
    rows = (torch.arange(Hp) - sh) % Hp  # where each row lands in the shifted map
    cols = (torch.arange(Wp) - sw) % Wp
    window = (rows // wh)[:, None] * (Wp // ww) + (cols // ww)[None, :]
    region = region_ids(Hp, wh, sh)[rows][:, None] * 3 + region_ids(Wp, ww, sw)[cols][None, :]
    padding = (torch.arange(Hp) >= H)[:, None] | (torch.arange(Wp) >= W)[None, :]
    return WindowLayout(window, region, padding, (H, W), (wh, ww), (sh, sw))
