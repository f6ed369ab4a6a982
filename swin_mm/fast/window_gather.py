"""A block's pad + roll + partition, and its inverse, as one gather of token rows each.

Drop-ins for :func:`swin_mm.ops.window.shift_and_partition` and
:func:`swin_mm.ops.window.reverse_and_unshift` (same names, same arguments): one pass over the map
instead of a pad, two for the 2-D roll and one for the partition; backward is the inverse gather.
The index tables are built with the plain functions themselves, once per size (cached).
:func:`window_chunks` gives the same tables per range of windows, for a block's inference.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import torch

from ..ops import window as plain
from ..ops.window import Size2, cache_tensors, round_up
from .chunks import items_per_chunk, window_ranges

__all__ = ['shift_and_partition', 'reverse_and_unshift', 'WindowChunk', 'window_chunks']


def shift_and_partition(x: torch.Tensor, window_size: Size2, shift_size: Size2
                        ) -> Tuple[torch.Tensor, Size2]:
    """:func:`swin_mm.ops.window.shift_and_partition` as one gather: (B, H, W, C) ->
    ((B * nW, wh * ww, C), (Hp, Wp))."""
    B, H, W, C = x.shape
    gather, scatter, pad_rows = _gather_index(B, (H, W), tuple(window_size), tuple(shift_size),
                                              x.device)
    windows = _RowGather.apply(x.reshape(B * H * W, C), gather, pad_rows, scatter, None)
    padded_size = round_up(H, window_size[0]), round_up(W, window_size[1])
    return windows.view(-1, window_size[0] * window_size[1], C), padded_size


def reverse_and_unshift(windows: torch.Tensor, window_size: Size2, shift_size: Size2,
                        image_size: Size2) -> torch.Tensor:
    """:func:`swin_mm.ops.window.reverse_and_unshift` as one gather: (B * nW, wh * ww, C) ->
    (B, H, W, C), contiguous."""
    H, W = image_size
    C = windows.shape[-1]
    padded = round_up(H, window_size[0]) * round_up(W, window_size[1])
    B = windows.numel() // (padded * C)
    gather, scatter, pad_rows = _gather_index(B, (H, W), tuple(window_size), tuple(shift_size),
                                              windows.device)
    x = _RowGather.apply(windows.reshape(-1, C), scatter, None, gather, pad_rows)
    return x.view(B, H, W, C)


class _RowGather(torch.autograd.Function):
    """out = x[index] with rows ``zero_rows`` zeroed; backward gathers the gradient back with
    ``back_index`` (zeroing ``back_zero_rows``). Right when ``index`` hits every kept row of ``x``
    exactly once and ``back_index`` is its inverse, as for a permutation with padding."""

    @staticmethod
    def forward(ctx, x, index, zero_rows, back_index, back_zero_rows):
        ctx.save_for_backward(back_index, back_zero_rows)
        return _gather_rows(x, index, zero_rows)

    @staticmethod
    def backward(ctx, grad):
        back_index, back_zero_rows = ctx.saved_tensors
        return _gather_rows(grad, back_index, back_zero_rows), None, None, None, None


def _gather_rows(x: torch.Tensor, index: torch.Tensor, zero_rows: Optional[torch.Tensor]
                 ) -> torch.Tensor:
    out = x.contiguous().index_select(0, index)
    if zero_rows is not None and zero_rows.numel():
        out.index_fill_(0, zero_rows, 0)
    return out


@cache_tensors
def _gather_index(batch: int, image_size: Size2, window_size: Size2, shift_size: Size2, device
                  ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each window token comes from, for ``batch`` images stacked row-wise, built with the
    plain pad, roll and partition.

    Returns:
        gather: (batch * nW * N,) source row (b * H + h) * W + w of each window token (0 for
            padding);
        scatter: (batch * H * W,) window token of each source row (the inverse);
        pad_rows: the window tokens that are padding.
    Cached per batch, sizes and device: do not modify.
    """
    H, W = image_size
    source = torch.arange(1, batch * H * W + 1, device=device).view(batch, H, W, 1)  # 0: padding
    source = plain.shift_and_partition(source, window_size, shift_size)[0].flatten() - 1
    is_pad = source < 0
    scatter = torch.empty(batch * H * W, dtype=torch.long, device=device)
    scatter[source[~is_pad]] = torch.arange(source.numel(), device=device)[~is_pad]
    return source.clamp(min=0), scatter, is_pad.nonzero().flatten()


class WindowChunk(NamedTuple):
    """A range of windows as :func:`window_chunks` gives them.

    Attributes:
        images: how many images the range spans (1 for part of an image).
        in_image: the range's windows within its image(s): the rows of a per-window mask.
        source: (rows,) map row (b * H + h) * W + w of each of their tokens, 0 for padding
            (rows = windows * N, window-major).
        pad: the rows (0-based in the chunk) that are padding, or None.
        keep: the rows that are not padding, or None when all are kept.
        dest: (kept rows,) map row of each kept token.
    """
    images: int
    in_image: slice
    source: torch.Tensor
    pad: Optional[torch.Tensor]
    keep: Optional[torch.Tensor]
    dest: torch.Tensor


def window_chunks(batch: int, image_size: Size2, window_size: Size2, shift_size: Size2,
                  bytes_per_window: int, device) -> Tuple[WindowChunk, ...]:
    """The windows of :func:`shift_and_partition` in the ranges of
    :func:`swin_mm.fast.chunks.window_ranges`, each with its tokens' rows in the map: what running
    a block range by range gathers and where it writes back.

    Args:
        batch, image_size (H, W): the (B, H, W, C) map, stacked row-wise as (B * H * W, C).
        window_size, shift_size: as in :func:`shift_and_partition`.
        bytes_per_window: the largest temporary per window of the work done per range.
    Returns:
        Every window of every image once, in partition order. Cached per sizes and windows per
        range (not per byte count: the budget is read here): do not modify.
    """
    return _window_chunks(batch, tuple(image_size), tuple(window_size), tuple(shift_size),
                          items_per_chunk(bytes_per_window), device)


@cache_tensors
def _window_chunks(batch: int, image_size: Size2, window_size: Size2, shift_size: Size2,
                   per_chunk: int, device) -> Tuple[WindowChunk, ...]:
    gather, _, pad_rows = _gather_index(batch, image_size, window_size, shift_size, device)
    tokens = window_size[0] * window_size[1]
    per_image = gather.numel() // (batch * tokens)
    is_pad = torch.zeros(gather.numel(), dtype=torch.bool, device=device)
    is_pad[pad_rows] = True
    chunks = []
    for windows, in_image in window_ranges(batch, per_image, per_chunk):
        rows = slice(windows.start * tokens, windows.stop * tokens)
        images = max(1, (windows.stop - windows.start) // per_image)
        source, pad = gather[rows], is_pad[rows]
        if pad.any():
            keep = (~pad).nonzero().flatten()
            chunks.append(WindowChunk(images, in_image, source, pad.nonzero().flatten(), keep,
                                      source[keep]))
        else:
            chunks.append(WindowChunk(images, in_image, source, None, None, source))
    return tuple(chunks)
