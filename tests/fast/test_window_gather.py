"""The gather forms of pad + roll + partition and back, and their per-range index tables."""
import pytest
import torch

from swin_mm.fast import chunks as chunks_module
from swin_mm.fast.window_gather import reverse_and_unshift, shift_and_partition, window_chunks
from swin_mm.ops import window as reference


@pytest.mark.parametrize('size, shift', [((14, 21), (3, 3)), ((10, 19), (3, 3)), ((10, 19), (0, 0)),
                                         ((5, 3), (3, 3)), ((7, 7), (0, 0))])
def test_shift_and_partition_is_pad_roll_partition_and_back(size, shift):
    """The one-gather forms against the reference functions they replace, values and gradients,
    2 images."""
    window = (7, 7)
    x = torch.randn(2, *size, 5, dtype=torch.float64, requires_grad=True)
    expected, padded_size = reference.shift_and_partition(x, window, shift)
    windows, got_size = shift_and_partition(x, window, shift)
    assert got_size == padded_size and torch.equal(windows, expected)
    back = reverse_and_unshift(windows, window, shift, size)
    assert back.is_contiguous() and torch.equal(back, x)
    assert torch.autograd.gradcheck(lambda t: shift_and_partition(t, window, shift)[0], (x,))
    w = windows.detach().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: reverse_and_unshift(t, window, shift, size), (w,))


@pytest.mark.parametrize('size, shift', [((14, 21), (3, 3)), ((10, 19), (3, 3)), ((10, 19), (0, 0)),
                                         ((7, 7), (0, 0))])
@pytest.mark.parametrize('per_chunk', [1, 4, 100])
def test_window_chunks_cover_the_partition_and_the_map_once(monkeypatch, size, shift, per_chunk):
    """Chunk by chunk: the tokens shift_and_partition gives, whole images or part of one in a
    chunk, padding marked, and every map row written back exactly once."""
    window, batch = (7, 7), 2
    x = torch.arange(batch * size[0] * size[1] * 3, dtype=torch.float64).view(batch, *size, 3)
    windows, (Hp, Wp) = shift_and_partition(x, window, shift)
    per_image = Hp * Wp // 49
    monkeypatch.setattr(chunks_module, 'CHUNK_BYTES', per_chunk * 100)
    chunks = window_chunks(batch, size, window, shift, 100, x.device)
    rows, dests, start = x.view(-1, 3), [], 0
    for chunk in chunks:
        count = chunk.source.numel() // 49
        assert 0 < count <= max(per_chunk, per_image)
        if chunk.images > 1 or count == per_image:  # whole images
            assert count == chunk.images * per_image and start % per_image == 0
            assert chunk.in_image == slice(0, per_image)
        else:  # part of one image: its windows' rows of the mask
            assert chunk.in_image.stop - chunk.in_image.start == count
            assert chunk.in_image.start == start % per_image and chunk.in_image.stop <= per_image
        expected = windows[start:start + count].reshape(-1, 3)  # padding rows are zeros
        got = rows[chunk.source]
        if chunk.pad is not None:
            got[chunk.pad] = 0
            assert torch.equal(chunk.dest, chunk.source[chunk.keep])
            assert chunk.pad.numel() + chunk.keep.numel() == count * 49
        assert torch.equal(got, expected)
        dests.append(chunk.dest)
        start += count
    assert start == batch * per_image
    assert torch.equal(torch.cat(dests).sort().values, torch.arange(rows.shape[0]))
