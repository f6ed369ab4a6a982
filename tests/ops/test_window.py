"""Window helpers: padding, partition round trip, relative index, the cached shift mask."""
import pytest
import torch

from swin_mm.ops.window import (REGION_MASK_VALUE, attention_bias, pad_to_multiple,
                                relative_position_index, reverse_and_unshift, shift_and_partition,
                                window_attention_mask, window_partition, window_reverse)


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


@pytest.mark.parametrize('size, shift', [((14, 21), (3, 3)), ((10, 19), (3, 3)), ((5, 3), (0, 0))])
def test_shift_and_partition_round_trip(size, shift):
    """Pad, roll, partition, then back: the map itself, and each window holds the tokens the
    paper's shifted windows hold (the first token of window 0 is (sh, sw))."""
    window = (7, 7)
    x = torch.randn(2, *size, 5)
    windows, padded_size = shift_and_partition(x, window, shift)
    assert padded_size == (-(-size[0] // 7) * 7, -(-size[1] // 7) * 7)
    assert windows.shape == (2 * padded_size[0] * padded_size[1] // 49, 49, 5)
    assert torch.equal(windows[0, 0], x[0, shift[0], shift[1]])
    assert torch.equal(reverse_and_unshift(windows, window, shift, size), x)


def test_attention_bias_adds_the_mask_per_window():
    bias, mask = torch.randn(2, 5, 5), torch.randn(3, 5, 5)
    assert attention_bias(bias, None) is bias
    full = attention_bias(bias, mask)
    assert full.shape == (3, 2, 5, 5)
    for w in range(3):
        for h in range(2):
            torch.testing.assert_close(full[w, h], bias[h] + mask[w])
    out = torch.empty(4, 3, 2, 5, 5)  # written into a larger (images, nW, h, N, N) buffer
    assert attention_bias(bias, mask, out=out) is out
    assert torch.equal(out[3], full)
