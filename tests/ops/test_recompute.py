"""The recomputing autograd functions: exact gradients (gradcheck) and less saved memory."""
import torch
import torch.nn.functional as F

from swin_mm.ops.recompute import gelu_linear, window_attention
from swin_mm.profiling import saved_activation_bytes


def _qkv(requires_grad=True, dtype=torch.double):
    torch.manual_seed(0)
    return [torch.randn(2, 3, 2, 5, 4, dtype=dtype, requires_grad=requires_grad) for _ in range(3)]


def test_window_attention_gradcheck_with_and_without_mask():
    q, k, v = _qkv()
    bias = torch.randn(2, 5, 5, dtype=torch.double, requires_grad=True)
    mask = torch.randn(3, 1, 5, 5, dtype=torch.double)
    for m in (mask, None):
        assert torch.autograd.gradcheck(lambda *t: window_attention(*t, m, 0.3), (q, k, v, bias))


def test_window_attention_equals_sdpa():
    q, k, v = _qkv(dtype=torch.float32)
    bias = torch.randn(2, 5, 5)
    mask = torch.randn(3, 1, 5, 5)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias + mask, scale=0.3)
    torch.testing.assert_close(window_attention(q, k, v, bias, mask, 0.3), ref)


def test_gelu_linear_gradcheck_and_value():
    torch.manual_seed(0)
    h = torch.randn(2, 3, 6, dtype=torch.double, requires_grad=True)
    w = torch.randn(4, 6, dtype=torch.double, requires_grad=True)
    b = torch.randn(4, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(gelu_linear, (h, w, b))
    assert torch.autograd.gradcheck(lambda h, w: gelu_linear(h, w, None), (h, w))
    torch.testing.assert_close(gelu_linear(h, w, b), F.linear(F.gelu(h), w, b))


def test_saves_less_than_the_plain_ops():
    q, k, v = (t.detach().float().requires_grad_() for t in _qkv())
    bias = torch.randn(2, 5, 5, requires_grad=True)
    plain = saved_activation_bytes(
        lambda: torch.softmax(q @ k.transpose(-2, -1) * 0.3 + bias, -1) @ v, exclude=[bias])
    lean = saved_activation_bytes(lambda: window_attention(q, k, v, bias, None, 0.3), exclude=[bias])
    assert lean == 3 * q.numel() * 4  # q, k and v, nothing of size N x N
    assert lean < plain
    h = torch.randn(7, 16, requires_grad=True)
    w = torch.randn(4, 16, requires_grad=True)
    assert saved_activation_bytes(lambda: gelu_linear(h, w, None), exclude=[w]) == h.numel() * 4
    assert saved_activation_bytes(lambda: F.linear(F.gelu(h), w), exclude=[w]) == 2 * h.numel() * 4
