"""Window helpers: padding, partition round trip, relative index, the cached shift mask."""
import pytest
import torch

from swin_mm.ops.window import (REGION_MASK_VALUE, pad_to_multiple, relative_position_index,
                                reverse_and_unshift, shift_and_partition, window_attention_mask,
                                window_chunks, window_partition, window_reverse)


def test_pad_to_multiple_pads_bottom_right_only_when_needed():
    x = torch.randn(2, 5, 9, 3)
    y, size = pad_to_multiple(x, (7, 7))
    assert size == (7, 14) and y.shape == (2, 7, 14, 3)
    assert torch.equal(y[:, :5, :9], x) and not y[:, 5:].any() and not y[:, :, 9:].any()
    z, size = pad_to_multiple(y, (7, 7))
    assert z is y and size == (7, 14)


@pytest.mark.parametrize('window, size', [((7, 7), (14, 21)), ((3, 4), (12, 16))])
def test_partition_round_trip_and_order(window, size):
    H, W = size
    x = torch.arange(2 * H * W).float().view(2, H, W, 1).expand(2, H, W, 5).contiguous()
    windows = window_partition(x, window)
    wh, ww = window
    assert windows.shape == (2 * (H // wh) * (W // ww), wh * ww, 5)
    assert torch.equal(window_reverse(windows, window, (H, W)), x)
    # second window of the first image is the block right of the first, row-major inside
    assert torch.equal(windows[1, :, 0], x[0, :wh, ww:2 * ww, 0].reshape(-1))


def test_relative_position_index_matches_definition():
    wh, ww = 3, 4
    index = relative_position_index((wh, ww))
    coords = [(r, c) for r in range(wh) for c in range(ww)]
    for i, (ri, ci) in enumerate(coords):
        for j, (rj, cj) in enumerate(coords):
            assert index[i, j] == (ri - rj + wh - 1) * (2 * ww - 1) + (ci - cj + ww - 1)
    assert index.max() == (2 * wh - 1) * (2 * ww - 1) - 1
    assert index.diagonal().unique().tolist() == [(wh - 1) * (2 * ww - 1) + ww - 1]


def test_mask_none_without_shift_or_padding_mask():
    assert window_attention_mask((14, 14), (14, 14), (7, 7), (0, 0), False) is None
    assert window_attention_mask((10, 14), (14, 14), (7, 7), (0, 0), False) is None
    assert window_attention_mask((10, 14), (14, 14), (7, 7), (0, 0), True) is not None


def test_shift_mask_regions():
    mask = window_attention_mask((14, 14), (14, 14), (7, 7), (3, 3), False)
    assert mask.shape == (4, 49, 49)
    assert not mask[0].any()  # the top-left window holds one region only
    # bottom-right window: rows 0-3 / 4-6 and cols 0-3 / 4-6 are four regions
    labels = torch.tensor([(r >= 4) * 2 + (c >= 4) for r in range(7) for c in range(7)])
    expected = torch.where(labels[:, None] == labels[None, :], 0.0, REGION_MASK_VALUE)
    assert torch.equal(mask[3], expected)


def test_masked_pairs_get_probability_exactly_zero():
    """Not e^-100 (the release's -100): a subnormal float32, several times slower to compute on."""
    mask = window_attention_mask((14, 14), (14, 14), (7, 7), (3, 3), False)
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        logits = (10 * torch.randn(4, 49, 49)).to(dtype) + mask.to(dtype)
        probs = torch.softmax(logits.float(), dim=-1)
        assert (probs[mask.expand_as(probs) != 0] == 0).all()
        assert not ((probs > 0) & (probs < torch.finfo(torch.float32).tiny)).any()


def test_mask_is_cached_per_size_and_device():
    a = window_attention_mask((21, 35), (21, 35), (7, 7), (3, 3), False, torch.device('cpu'))
    b = window_attention_mask((21, 35), (21, 35), (7, 7), (3, 3), False, torch.device('cpu'))
    c = window_attention_mask((21, 28), (21, 28), (7, 7), (3, 3), False, torch.device('cpu'))
    assert a is b and c is not a and c.shape[0] == 12


def test_padding_mask_hides_padded_keys_only():
    mask = window_attention_mask((5, 7), (7, 7), (7, 7), (0, 0), True)
    padded_key = torch.tensor([r >= 5 for r in range(7) for _ in range(7)])
    assert (mask[0][:, padded_key] < -1e3).all() and not mask[0][:, ~padded_key].any()


@pytest.mark.parametrize('size, shift', [((14, 21), (3, 3)), ((10, 19), (3, 3)), ((10, 19), (0, 0)),
                                         ((5, 3), (3, 3)), ((7, 7), (0, 0))])
def test_shift_and_partition_is_pad_roll_partition_and_back(size, shift):
    """The one-gather forms against the plain ops they replace, values and gradients, 2 images."""
    window = (7, 7)
    x = torch.randn(2, *size, 5, dtype=torch.float64, requires_grad=True)
    padded, padded_size = pad_to_multiple(x, window)
    expected = window_partition(torch.roll(padded, (-shift[0], -shift[1]), (1, 2)), window)
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
def test_window_chunks_cover_the_partition_and_the_map_once(size, shift, per_chunk):
    """Chunk by chunk: the tokens shift_and_partition gives, never two images in one chunk,
    padding marked, and every map row written back exactly once."""
    window, batch = (7, 7), 2
    x = torch.arange(batch * size[0] * size[1] * 3, dtype=torch.float64).view(batch, *size, 3)
    windows, (Hp, Wp) = shift_and_partition(x, window, shift)
    per_image = Hp * Wp // 49
    chunks = window_chunks(batch, size, window, shift, per_chunk, x.device)
    rows, dests, start = x.view(-1, 3), [], 0
    for chunk in chunks:
        count = chunk.windows.stop - chunk.windows.start
        assert 0 < count <= per_chunk and chunk.windows.stop <= per_image
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
