"""SwinBlock against a naive block written from the paper, and the shift mask by perturbation."""
import pytest
import torch

from swin_mm.models.swin import SwinBlock
from tests.helpers.naive_swin import naive_block, region_and_window


def _block(window, shift, mask_padding=False, dim=16, heads=2, seed=0, bias_gain=50.0):
    torch.manual_seed(seed)
    block = SwinBlock(dim, heads, window, shift=shift, mask_padding=mask_padding).eval()
    with torch.no_grad():  # non-trivial norms and biases so that a wrong gather shows
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        block.attn.relative_position_bias_table.mul_(bias_gain)
    return block


@pytest.mark.parametrize('shift', [False, True])
@pytest.mark.parametrize('size', [(14, 14), (13, 17), (5, 9), (1, 1)])
@pytest.mark.parametrize('window', [7, (3, 4)])
def test_block_matches_paper(shift, size, window):
    block = _block(window, shift)
    x = torch.randn(2, *size, 16)
    with torch.no_grad():
        torch.testing.assert_close(block(x), naive_block(block, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('shift', [False, True])
@pytest.mark.parametrize('size', [(13, 17), (10, 10), (7, 14)])
def test_mask_padding_matches_attention_over_real_tokens(shift, size):
    block = _block(7, shift, mask_padding=True)
    x = torch.randn(1, *size, 16)
    with torch.no_grad():
        torch.testing.assert_close(block(x), naive_block(block, x), rtol=1e-5, atol=1e-5)


def test_mask_padding_changes_padded_sizes_only():
    x = torch.randn(1, 13, 17, 16)
    on, off = _block(7, True, mask_padding=True), _block(7, True, mask_padding=False)
    with torch.no_grad():
        assert not torch.allclose(on(x), off(x), atol=1e-4)
        x = torch.randn(1, 14, 21, 16)  # a multiple of the window: nothing to mask
        torch.testing.assert_close(on(x), off(x), rtol=0, atol=0)


@pytest.mark.parametrize('size', [(14, 14), (12, 11)])
def test_shifted_regions_never_mix(size):
    """Perturb one token: the shifted block's output moves only in that token's window and
    region."""
    block = _block(7, True, bias_gain=5.0)  # every in-region weight well above rounding
    H, W = size
    Hp, Wp = -(-H // 7) * 7, -(-W // 7) * 7
    x = torch.randn(1, H, W, 16)
    with torch.no_grad():
        base = block(x)
        for r, c in [(H - 1, W - 1), (0, 0), (H - 2, 1), (H // 2, W - 3)]:
            x2 = x.clone()
            x2[0, r, c] += 3.0 * torch.randn(16)  # not a constant: LayerNorm would erase it
            diff = (block(x2) - base).abs().amax(-1)[0]  # H, W
            home = region_and_window(r, c, (Hp, Wp), (7, 7), (3, 3))
            same = torch.tensor([[region_and_window(i, j, (Hp, Wp), (7, 7), (3, 3)) == home
                                  for j in range(W)] for i in range(H)])
            assert diff[~same].max() < 1e-6, f'token {(r, c)} leaked out of its region'
            assert (diff[same] > 1e-5).all(), f'token {(r, c)} did not reach its region'
