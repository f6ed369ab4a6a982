"""window_sdpa: the naive attention's values, through SDPA's fused kernel, in a copy-free layout."""
import pytest
import torch

from swin_mm.fast.sdpa import window_sdpa


def _naive(q, k, v, attn_mask, scale):
    return torch.softmax(q @ k.transpose(-2, -1) * scale + attn_mask, dim=-1) @ v


@pytest.mark.parametrize('batch', [1, 3])
@pytest.mark.parametrize('per_window', [False, True])
def test_equals_naive_attention(batch, per_window):
    torch.manual_seed(0)
    nW, h, N, d = 4, 2, 9, 8
    qkv = torch.randn(batch, nW, N, 3, h, d)  # the module's layout: q, k, v are strided views
    q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)
    mask = torch.randn(nW, h, N, N) if per_window else torch.randn(h, N, N)
    mask[..., 0, 3:] = -100.0  # strongly masked logits, as the shifted windows have
    out = window_sdpa(q, k, v, mask, 0.35)
    assert out.shape == (batch, nW, h, N, d)
    assert out.transpose(2, 3).is_contiguous()  # heads merge into channels without a copy
    torch.testing.assert_close(out, _naive(q, k, v, mask, 0.35), rtol=1e-5, atol=1e-5)


def test_takes_the_fused_kernel_on_cpu():
    q = k = v = torch.randn(2, 4, 2, 9, 8)
    for mask in (torch.randn(2, 9, 9), torch.randn(4, 2, 9, 9)):
        with torch.profiler.profile() as prof:
            window_sdpa(q, k, v, mask, 0.35)
        names = {e.name for e in prof.events()}
        assert any('flash_attention' in n for n in names), sorted(names)
        assert 'aten::_scaled_dot_product_attention_math' not in names
