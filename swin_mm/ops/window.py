"""Window operations of the Swin Transformer, channels-last throughout.

Pure functions: padding to a multiple of the window, partition into windows and back, the
relative-position index, and the attention masks of the shifted windows (built once per padded size
and device, then cached). A block's pad + cyclic shift + partition, and its reverse + shift back +
crop, each run as one row gather (:func:`shift_and_partition`, :func:`reverse_and_unshift`).
Nothing here holds parameters.
"""
from __future__ import annotations

from functools import lru_cache, wraps
from typing import Callable, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = [
    'to_2tuple', 'pad_to_multiple', 'round_up', 'window_partition', 'window_reverse',
    'shift_and_partition', 'reverse_and_unshift', 'WindowChunk', 'window_chunks',
    'relative_position_index', 'window_attention_mask',
]

Size2 = Tuple[int, int]

#: Logit added between tokens of different shifted regions. The official release adds -100, which
#: leaves a masked pair the probability e^-100 ~ 4e-44: a subnormal float32, and arithmetic on
#: subnormals is several times slower on x86 CPUs (an sgemm with 0.15% subnormal inputs ran 3.5x
#: slower). With -1e4 it is exactly 0 in float32 and bfloat16, as masking means; outputs differ
#: from the release's by ~1e-44 relative (Swin-T 800x1216 on CPU: forward -9%, training step -4%).
REGION_MASK_VALUE = -1e4
#: Logit added for padded keys when ``mask_padding`` is on: exp() of it is exactly 0 in fp32.
PADDING_MASK_VALUE = -1e4


def _cached(build: Callable) -> Callable:
    """``lru_cache`` for index and mask tensors that are built once and then used in every mode:
    built outside ``torch.inference_mode`` even when first asked for there (an inference tensor
    can never be saved for backward, so a later training step at the same size would fail)."""
    @lru_cache(maxsize=64)
    @wraps(build)
    def cached(*args):
        with torch.inference_mode(False):
            return build(*args)
    return cached


def to_2tuple(value: int | Tuple[int, int]) -> Size2:
    """``7 -> (7, 7)``; a pair is returned as a tuple of two ints."""
    if isinstance(value, int):
        return value, value
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f'expected an int or a pair of ints, got {value!r}')
    return pair  # type: ignore[return-value]


def pad_to_multiple(x: torch.Tensor, multiple: Size2) -> Tuple[torch.Tensor, Size2]:
    """Zero-pad a channels-last map at the bottom and right to a multiple of ``multiple``.

    Args:
        x: (B, H, W, C).
        multiple: (mh, mw) in tokens.
    Returns:
        The padded map (B, Hp, Wp, C) (``x`` itself when no padding is needed) and (Hp, Wp).
    """
    H, W = x.shape[1], x.shape[2]
    Hp, Wp = round_up(H, multiple[0]), round_up(W, multiple[1])
    if torch.compiler.is_compiling() or Hp != H or Wp != W:  # traced: pad (maybe by 0), no guard
        x = F.pad(x, (0, 0, 0, Wp - W, 0, Hp - H))
    return x, (Hp, Wp)


def round_up(size: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` >= ``size``, written as k * multiple so that a traced
    (symbolic) size divides by ``multiple`` without a proof."""
    return (size + multiple - 1) // multiple * multiple


def window_partition(x: torch.Tensor, window_size: Size2) -> torch.Tensor:
    """Cut a channels-last map into non-overlapping windows, row-major over the window grid.

    Args:
        x: (B, Hp, Wp, C) with Hp, Wp multiples of the window size.
        window_size: (wh, ww).
    Returns:
        (B * nW, wh * ww, C) with nW = (Hp // wh) * (Wp // ww).
    """
    B, Hp, Wp, C = x.shape
    wh, ww = window_size
    x = x.view(B, Hp // wh, wh, Wp // ww, ww, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, wh * ww, C)  # B*nW, wh*ww, C


def window_reverse(windows: torch.Tensor, window_size: Size2, padded_size: Size2) -> torch.Tensor:
    """Inverse of :func:`window_partition`.

    Args:
        windows: (B * nW, wh * ww, C).
        window_size: (wh, ww).
        padded_size: (Hp, Wp) of the map the windows came from.
    Returns:
        (B, Hp, Wp, C).
    """
    wh, ww = window_size
    Hp, Wp = padded_size
    C = windows.shape[-1]
    x = windows.view(-1, Hp // wh, Wp // ww, wh, ww, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, Hp, Wp, C)  # B, Hp, Wp, C


def shift_and_partition(x: torch.Tensor, window_size: Size2, shift_size: Size2
                        ) -> Tuple[torch.Tensor, Size2]:
    """Zero-pad to a multiple of the window, roll by ``-shift_size``, cut into windows.

    Eager mode runs this as one gather of token rows (padding rows zeroed), and its backward as the
    inverse gather: one pass over the map instead of a pad, two for the 2-D roll and one for the
    partition (Swin-T stage 1 at 800x1216: 1.7 against 10.7 ms). Under ``torch.compile`` the plain
    ops, which the compiler fuses.

    Args:
        x: (B, H, W, C).
        window_size: (wh, ww); shift_size: (sh, sw), zeros for W-MSA.
    Returns:
        (B * nW, wh * ww, C) windows of the padded, shifted map, and its padded size (Hp, Wp).
    """
    if torch.compiler.is_compiling():
        return _pad_roll_partition(x, window_size, shift_size)
    B, H, W, C = x.shape
    gather, scatter, pad_rows = _gather_index(B, (H, W), tuple(window_size), tuple(shift_size),
                                              x.device)
    windows = _RowGather.apply(x.reshape(B * H * W, C), gather, pad_rows, scatter, None)
    padded_size = round_up(H, window_size[0]), round_up(W, window_size[1])
    return windows.view(-1, window_size[0] * window_size[1], C), padded_size


def _pad_roll_partition(x: torch.Tensor, window_size: Size2, shift_size: Size2
                        ) -> Tuple[torch.Tensor, Size2]:
    """:func:`shift_and_partition` with the plain ops (traced code, and the gather's index)."""
    x, padded_size = pad_to_multiple(x, window_size)
    if any(shift_size):
        x = torch.roll(x, shifts=(-shift_size[0], -shift_size[1]), dims=(1, 2))
    return window_partition(x, window_size), padded_size


def reverse_and_unshift(windows: torch.Tensor, window_size: Size2, shift_size: Size2,
                        image_size: Size2) -> torch.Tensor:
    """Inverse of :func:`shift_and_partition`: windows back to the map, roll by ``+shift_size``,
    crop the padding; one gather in eager mode.

    Args:
        windows: (B * nW, wh * ww, C).
        window_size: (wh, ww); shift_size: (sh, sw).
        image_size: (H, W) before padding.
    Returns:
        (B, H, W, C), contiguous.
    """
    H, W = image_size
    C = windows.shape[-1]
    if torch.compiler.is_compiling():
        padded_size = round_up(H, window_size[0]), round_up(W, window_size[1])
        x = window_reverse(windows, window_size, padded_size)
        if any(shift_size):
            x = torch.roll(x, shifts=shift_size, dims=(1, 2))
        # one layout whether or not it padded: no guard on the size
        return x[:, :H, :W, :].clone(memory_format=torch.contiguous_format)
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


@_cached
def _gather_index(batch: int, image_size: Size2, window_size: Size2, shift_size: Size2, device
                  ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each window token comes from, for ``batch`` images stacked row-wise, built with the
    same pad, roll and partition as the maps.

    Returns:
        gather: (batch * nW * N,) source row (b * H + h) * W + w of each window token (0 for
            padding);
        scatter: (batch * H * W,) window token of each source row (the inverse);
        pad_rows: the window tokens that are padding.
    Cached per batch, sizes and device: do not modify.
    """
    H, W = image_size
    source = torch.arange(1, batch * H * W + 1, device=device).view(batch, H, W, 1)  # 0: padding
    source = _pad_roll_partition(source, window_size, shift_size)[0].flatten() - 1
    is_pad = source < 0
    scatter = torch.empty(batch * H * W, dtype=torch.long, device=device)
    scatter[source[~is_pad]] = torch.arange(source.numel(), device=device)[~is_pad]
    return source.clamp(min=0), scatter, is_pad.nonzero().flatten()


class WindowChunk(NamedTuple):
    """A range of consecutive windows of one image, as :func:`window_chunks` gives them.

    Attributes:
        windows: the windows' range within their image (the rows of a per-window mask).
        source: (rows,) map row (b * H + h) * W + w of each of their tokens, 0 for padding
            (rows = windows * N, window-major).
        pad: the rows (0-based in the chunk) that are padding, or None.
        keep: the rows that are not padding, or None when all are kept.
        dest: (kept rows,) map row of each kept token.
    """
    windows: slice
    source: torch.Tensor
    pad: Optional[torch.Tensor]
    keep: Optional[torch.Tensor]
    dest: torch.Tensor


@_cached
def window_chunks(batch: int, image_size: Size2, window_size: Size2, shift_size: Size2,
                  windows_per_chunk: int, device) -> Tuple[WindowChunk, ...]:
    """The windows of :func:`shift_and_partition` (pad, roll, partition) in ranges of at most
    ``windows_per_chunk`` windows that never span two images, each with its tokens' rows in the
    map: what running a block chunk by chunk gathers and where it writes back.

    Args:
        batch, image_size (H, W): the (B, H, W, C) map, stacked row-wise as (B * H * W, C).
        window_size, shift_size: as in :func:`shift_and_partition`.
    Returns:
        Every window of every image once, in partition order. Cached per arguments: do not
        modify.
    """
    gather, _, pad_rows = _gather_index(batch, image_size, window_size, shift_size, device)
    tokens = window_size[0] * window_size[1]
    per_image = gather.numel() // (batch * tokens)
    is_pad = torch.zeros(gather.numel(), dtype=torch.bool, device=device)
    is_pad[pad_rows] = True
    chunks = []
    for b in range(batch):
        for first in range(0, per_image, windows_per_chunk):
            last = min(first + windows_per_chunk, per_image)
            rows = slice((b * per_image + first) * tokens, (b * per_image + last) * tokens)
            source, pad = gather[rows], is_pad[rows]
            if pad.any():
                keep = (~pad).nonzero().flatten()
                chunks.append(WindowChunk(slice(first, last), source, pad.nonzero().flatten(),
                                          keep, source[keep]))
            else:
                chunks.append(WindowChunk(slice(first, last), source, None, None, source))
    return tuple(chunks)


def relative_position_index(window_size: Size2) -> torch.Tensor:
    """Index into the (2wh-1)(2ww-1) relative-position table for every query/key pair of a window.

    Returns:
        (wh*ww, wh*ww) int64, entry [i, j] = (dh + wh - 1) * (2ww - 1) + (dw + ww - 1) with
        (dh, dw) = position of token i minus position of token j (the official numbering).
    """
    wh, ww = window_size
    coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing='ij'))
    coords = coords.flatten(1)  # 2, N
    rel = coords[:, :, None] - coords[:, None, :]  # 2, N, N
    return (rel[0] + wh - 1) * (2 * ww - 1) + (rel[1] + ww - 1)


def _region_ids(length: int, window: int, shift: int, device=None) -> torch.Tensor:
    """Region label (0, 1, 2) of each position along one axis of a cyclically shifted padded map:
    0 before ``length - window``, 1 up to ``length - shift``, 2 after (all 0 without a shift).
    Comparisons, not slicing, so a symbolic ``length`` traces without a guard."""
    pos = torch.arange(length, device=device)
    if shift == 0:
        return torch.zeros_like(pos)
    return (pos >= length - window).long() + (pos >= length - shift).long()


def window_attention_mask(
    image_size: Size2,
    padded_size: Size2,
    window_size: Size2,
    shift_size: Size2,
    mask_padding: bool,
    device: Optional[torch.device] = None,
) -> Optional[torch.Tensor]:
    """Additive attention mask of every window, or None when no token needs masking.

    Tokens of different regions of the cyclically shifted map get ``REGION_MASK_VALUE`` (-1e4; the
    release's -100 leaves subnormal probabilities); with ``mask_padding`` keys that are padding get
    ``PADDING_MASK_VALUE``.
    Built once per sizes and device (cached): do not modify the returned tensor. Under
    ``torch.compile`` it is built inside the graph instead, without branching on the sizes (so one
    graph serves every input size), and a padding mask is returned even where nothing is padded.

    Args:
        image_size: (H, W) real tokens.
        padded_size: (Hp, Wp) after padding to the window multiple.
        window_size: (wh, ww).
        shift_size: (sh, sw), 0 for W-MSA.
        mask_padding: mask padded keys out of attention.
    Returns:
        (nW, N, N) float32 with N = wh * ww, or None.
    """
    if torch.compiler.is_compiling():  # sizes may be symbolic: no branching on them
        if not any(shift_size) and not mask_padding:
            return None
        return _build_mask(image_size, padded_size, window_size, shift_size, mask_padding, device)
    padded = mask_padding and tuple(padded_size) != tuple(image_size)
    if not any(shift_size) and not padded:
        return None
    return _cached_mask(tuple(image_size), tuple(padded_size), tuple(window_size),
                        tuple(shift_size), padded, device)


@_cached
def _cached_mask(image_size: Size2, padded_size: Size2, window_size: Size2, shift_size: Size2,
                 mask_padding: bool, device: Optional[torch.device]) -> torch.Tensor:
    return _build_mask(image_size, padded_size, window_size, shift_size, mask_padding, device)


def _build_mask(image_size: Size2, padded_size: Size2, window_size: Size2, shift_size: Size2,
                mask_padding: bool, device: Optional[torch.device]) -> torch.Tensor:
    """The (nW, N, N) mask of :func:`window_attention_mask`, always built."""
    (H, W), (Hp, Wp), (wh, ww), (sh, sw) = image_size, padded_size, window_size, shift_size
    rows, cols = _region_ids(Hp, wh, sh, device), _region_ids(Wp, ww, sw, device)
    region = rows[:, None] * 3 + cols[None, :]  # Hp, Wp
    region = window_partition(region[None, :, :, None], window_size).squeeze(-1)  # nW, N
    mask = torch.where(region[:, :, None] != region[:, None, :], REGION_MASK_VALUE, 0.0)
    if mask_padding:
        is_pad = ((torch.arange(Hp, device=device) >= H)[:, None]
                  | (torch.arange(Wp, device=device) >= W)[None, :])  # Hp, Wp
        is_pad = torch.roll(is_pad, shifts=(-sh, -sw), dims=(0, 1))
        is_pad = window_partition(is_pad[None, :, :, None], window_size).squeeze(-1)  # nW, N
        mask = mask.masked_fill(is_pad[:, None, :], PADDING_MASK_VALUE)
    return mask.float()
