"""Window operations of the Swin Transformer, channels-last throughout.

Pure functions, shared by the reference model and the fast paths: padding to a multiple of the
window, partition into windows and back, a block's pad + cyclic shift + partition and its inverse,
the relative-position index, the attention masks of the shifted windows (built once per padded
size and device, then cached) and the one place where bias and mask are added. Nothing here holds
parameters.
"""
from __future__ import annotations

from functools import lru_cache, wraps
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = [
    'to_2tuple', 'pad_to_multiple', 'round_up', 'window_partition', 'window_reverse',
    'shift_and_partition', 'reverse_and_unshift', 'attention_bias', 'add_attention_bias_',
    'relative_position_index', 'region_ids',
    'window_attention_mask', 'cache_tensors', 'sizes_are_symbolic',
]

Size2 = Tuple[int, int]

#: Logit between tokens of different shifted regions: exp() of it is exactly 0 in fp32 and bf16.
#: The release's -100 leaves e^-100, a subnormal float32 that x86 CPUs compute on far more slowly;
#: outputs differ from the release's by ~1e-44 relative.
REGION_MASK_VALUE = -1e4
#: Logit added for padded keys when ``mask_padding`` is on: exp() of it is exactly 0 in fp32.
PADDING_MASK_VALUE = -1e4


def sizes_are_symbolic() -> bool:
    """True while ``torch.compile``/``torch.export`` or the ONNX tracer records the model: sizes may
    then stand for every size, so code must not branch on them or cache by them."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def cache_tensors(build: Callable) -> Callable:
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
    if sizes_are_symbolic() or Hp != H or Wp != W:  # traced: pad (maybe by 0), no guard
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

    Args:
        x: (B, H, W, C).
        window_size: (wh, ww); shift_size: (sh, sw), zeros for W-MSA.
    Returns:
        (B * nW, wh * ww, C) windows of the padded, shifted map, and its padded size (Hp, Wp).
    """
    x, padded_size = pad_to_multiple(x, window_size)
    if any(shift_size):
        x = torch.roll(x, shifts=(-shift_size[0], -shift_size[1]), dims=(1, 2))
    return window_partition(x, window_size), padded_size


def reverse_and_unshift(windows: torch.Tensor, window_size: Size2, shift_size: Size2,
                        image_size: Size2) -> torch.Tensor:
    """Inverse of :func:`shift_and_partition`: windows back to the map, roll by ``+shift_size``,
    crop the padding.

    Args:
        windows: (B * nW, wh * ww, C).
        window_size: (wh, ww); shift_size: (sh, sw).
        image_size: (H, W) before padding.
    Returns:
        (B, H, W, C), contiguous.
    """
    H, W = image_size
    padded_size = round_up(H, window_size[0]), round_up(W, window_size[1])
    x = window_reverse(windows, window_size, padded_size)
    if any(shift_size):
        x = torch.roll(x, shifts=shift_size, dims=(1, 2))
    # always a copy, padded or not: one layout for every size, so tracing makes no size guard
    return x[:, :H, :W, :].clone(memory_format=torch.contiguous_format)


def attention_bias(bias: torch.Tensor, mask: Optional[torch.Tensor],
                   out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The additive logits of every window: relative-position bias plus attention mask.

    Args:
        bias: (h, N, N) relative-position bias.
        mask: (nW, N, N) mask of the windows (:func:`window_attention_mask`), or None.
        out: written into when given (broadcast to its shape, e.g. (B, nW, h, N, N) with a
            padded row stride for a kernel that needs one).
    Returns:
        (nW, h, N, N), or ``bias`` itself (h, N, N) without a mask and without ``out``.
    """
    if mask is None:
        return bias if out is None else out.copy_(bias)
    mask = mask[:, None].to(bias.dtype)  # nW, 1, N, N
    if out is None:
        return bias + mask
    return torch.add(bias.expand(out.shape), mask.expand(out.shape), out=out)


def add_attention_bias_(logits: torch.Tensor, bias: torch.Tensor, mask: Optional[torch.Tensor]
                        ) -> torch.Tensor:
    """``logits += attention_bias(bias, mask)`` in place, without the (nW, h, N, N) sum.

    Args:
        logits: (..., nW, h, N, N), or (..., h, N, N) without a mask.
        bias, mask: as in :func:`attention_bias`.
    Returns:
        ``logits``.
    """
    logits.add_(bias)
    return logits if mask is None else logits.add_(mask[:, None].to(logits.dtype))

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


def region_ids(length: int, window: int, shift: int, device=None) -> torch.Tensor:
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
    ``torch.compile``, export or ONNX tracing it is built inside the graph instead, without branching on the sizes (so one
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
    if sizes_are_symbolic():  # no branching on the sizes
        if not any(shift_size) and not mask_padding:
            return None
        return _build_mask(image_size, padded_size, window_size, shift_size, mask_padding, device)
    padded = mask_padding and tuple(padded_size) != tuple(image_size)
    if not any(shift_size) and not padded:
        return None
    return _cached_mask(tuple(image_size), tuple(padded_size), tuple(window_size),
                        tuple(shift_size), padded, device)


@cache_tensors
def _cached_mask(image_size: Size2, padded_size: Size2, window_size: Size2, shift_size: Size2,
                 mask_padding: bool, device: Optional[torch.device]) -> torch.Tensor:
    return _build_mask(image_size, padded_size, window_size, shift_size, mask_padding, device)


def _build_mask(image_size: Size2, padded_size: Size2, window_size: Size2, shift_size: Size2,
                mask_padding: bool, device: Optional[torch.device]) -> torch.Tensor:
    """The (nW, N, N) mask of :func:`window_attention_mask`, always built."""
    (H, W), (Hp, Wp), (wh, ww), (sh, sw) = image_size, padded_size, window_size, shift_size
    rows, cols = region_ids(Hp, wh, sh, device), region_ids(Wp, ww, sw, device)
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
