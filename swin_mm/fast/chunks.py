"""How the CPU fast paths cut their work: the one chunk planner.

A fresh CPU tensor over glibc's mmap threshold (32 MB at most) is page-faulted in at every
allocation, and a chunk small enough to stay in the caches is still there when the next operation
reads it. So the CPU paths work over chunks whose largest temporary stays under
:data:`CHUNK_BYTES`: rows of tokens (the MLP), or ranges of windows (attention backward, a block's
inference).
"""
from __future__ import annotations

from typing import List, Tuple

__all__ = ['CHUNK_BYTES', 'items_per_chunk', 'row_chunks', 'window_ranges']

#: Largest temporary of one chunk, in bytes.
CHUNK_BYTES = 8 * 2 ** 20


def items_per_chunk(bytes_per_item: int) -> int:
    """How many items of ``bytes_per_item`` bytes fit in :data:`CHUNK_BYTES` (at least one)."""
    return max(1, CHUNK_BYTES // bytes_per_item)


def row_chunks(num_rows: int, bytes_per_row: int) -> List[slice]:
    """Consecutive slices of ``num_rows`` rows under :data:`CHUNK_BYTES` each (>= 1 row)."""
    step = items_per_chunk(bytes_per_row)
    return [slice(start, min(start + step, num_rows)) for start in range(0, num_rows, step)]


def window_ranges(num_images: int, windows_per_image: int, per_chunk: int
                  ) -> List[Tuple[slice, slice]]:
    """Ranges of the ``num_images * windows_per_image`` windows (image-major) of at most
    ``per_chunk`` windows each that a per-window mask can follow: a range is either whole
    images or part of one image.

    Args:
        per_chunk: windows per range (:func:`items_per_chunk` of the bytes per window).
    Returns:
        (windows, in_image) per range: ``windows`` indexes all windows; ``in_image`` is the
        range's windows within its image (all of them when the range holds whole images), the
        rows of a (windows_per_image, ...) mask that it uses.
    """
    total = num_images * windows_per_image
    if per_chunk >= windows_per_image:
        step = per_chunk // windows_per_image * windows_per_image
        every = slice(0, windows_per_image)
        return [(slice(start, min(start + step, total)), every) for start in range(0, total, step)]
    ranges = []
    for image in range(num_images):
        first = image * windows_per_image
        for start in range(0, windows_per_image, per_chunk):
            stop = min(start + per_chunk, windows_per_image)
            ranges.append((slice(first + start, first + stop), slice(start, stop)))
    return ranges
