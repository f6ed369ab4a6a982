"""CPU training attention: equal to the reference function, exact gradients (gradcheck), over
ranges of windows, and less saved memory."""
import pytest
import torch
import torch.nn.functional as F

from swin_mm.fast import chunks
from swin_mm.fast.attention_cpu import projected_window_attention, window_attention
from swin_mm.models import attention as reference
from swin_mm.profiling import saved_activation_bytes

pytestmark = pytest.mark.usefixtures('library')  # the projection's products: MKL, then oneDNN


def _qkv(requires_grad=True, dtype=torch.double):
    """(B * nW, N, 3C) for B=2, nW=3, N=5, h=2, d=4, as the qkv projection writes it."""
    torch.manual_seed(0)
    return torch.randn(6, 5, 24, dtype=dtype, requires_grad=requires_grad)


def _heads(qkv):
    """The reference split: (B, nW, h, N, d) each of q, k, v."""
    return qkv.view(2, 3, 5, 3, 2, 4).permute(3, 0, 1, 4, 2, 5).unbind(0)


def _merge(out):
    """(B, nW, h, N, d) -> (B * nW, N, C)."""
    return out.transpose(2, 3).reshape(6, 5, 8)


def test_window_attention_gradcheck_with_and_without_mask():
    qkv = _qkv()
    bias = torch.randn(2, 5, 5, dtype=torch.double, requires_grad=True)
    mask = torch.randn(3, 5, 5, dtype=torch.double)
    for m in (mask, None):
        assert torch.autograd.gradcheck(lambda t, b: window_attention(t, b, m, 2, 0.3), (qkv, bias))


def test_window_attention_equals_the_reference_function():
    qkv = _qkv(dtype=torch.float32)
    bias = torch.randn(2, 5, 5)
    mask = torch.randn(3, 5, 5)
    for m in (mask, None):
        torch.testing.assert_close(window_attention(qkv, bias, m, 2, 0.3),
                                   reference.window_attention(qkv, bias, m, 2, 0.3))


def test_saves_less_than_the_plain_ops():
    qkv = _qkv(dtype=torch.float32)
    q, k, v = _heads(qkv)
    bias = torch.randn(2, 5, 5, requires_grad=True)
    plain = saved_activation_bytes(
        lambda: torch.softmax(q @ k.transpose(-2, -1) * 0.3 + bias, -1) @ v, exclude=[bias])
    lean = saved_activation_bytes(lambda: window_attention(qkv, bias, None, 2, 0.3),
                                  exclude=[bias])
    # q, k, v and the output (which the projection after it keeps anyway), nothing N x N
    assert lean == qkv.numel() * 4 + qkv.numel() // 3 * 4
    assert lean < plain


def test_window_attention_backward_takes_a_non_contiguous_gradient():
    """Gradients arriving as a strided view (as a transposing consumer sends them) give the same
    result as the contiguous ones."""
    qkv = _qkv(dtype=torch.float32)
    bias = torch.randn(2, 5, 5, requires_grad=True)
    mask = torch.randn(3, 5, 5)
    grad = torch.randn(6, 8, 5).transpose(1, 2)  # (6, 5, 8), not contiguous
    before = grad.clone()
    out = window_attention(qkv, bias, mask, 2, 0.3)
    strided = torch.autograd.grad(out, (qkv, bias), grad)
    assert torch.equal(grad, before)  # backward wrote nothing into the incoming gradient
    out = window_attention(qkv, bias, mask, 2, 0.3)
    dense = torch.autograd.grad(out, (qkv, bias), grad.contiguous())
    for a, b in zip(strided, dense):
        torch.testing.assert_close(a, b)
    q, k, v = _heads(qkv)
    ref = _merge(torch.softmax(q @ k.transpose(-2, -1) * 0.3 + bias + mask[:, None], -1) @ v)
    for a, b in zip(strided, torch.autograd.grad(ref, (qkv, bias), grad)):
        torch.testing.assert_close(a, b)


def test_window_attention_forward_takes_the_fused_kernel():
    """With or without a mask, though the bias requires grad (SDPA's CPU flash kernel refuses a
    mask flagged requires_grad and falls back to its unfused math)."""
    qkv = _qkv(dtype=torch.float32)
    bias = torch.randn(2, 5, 5, requires_grad=True)
    for mask in (None, torch.zeros(3, 5, 5)):
        with torch.profiler.profile() as prof:
            window_attention(qkv, bias, mask, 2, 0.3)
        names = {e.name for e in prof.events()}
        assert 'aten::_scaled_dot_product_flash_attention_for_cpu' in names, names
        assert 'aten::_scaled_dot_product_attention_math' not in names, names


def test_projected_window_attention_is_the_projection_then_the_attention(monkeypatch):
    """The qkv projection inside, its gradients taken range of windows by range (ranges of 2
    windows, within an image, and of whole images), with and without mask and qkv bias: values
    equal the projection followed by window_attention, and gradients pass gradcheck."""
    torch.manual_seed(0)
    x = torch.randn(6, 5, 8, dtype=torch.double, requires_grad=True)  # B=2, nW=3, N=5, C=8
    weight = torch.randn(24, 8, dtype=torch.double, requires_grad=True)
    qkv_bias = torch.randn(24, dtype=torch.double, requires_grad=True)
    bias = torch.randn(2, 5, 5, dtype=torch.double, requires_grad=True)
    mask = torch.randn(3, 5, 5, dtype=torch.double)
    for windows in (2, 3):
        monkeypatch.setattr(chunks, 'CHUNK_BYTES', windows * 2 * 5 * 5 * 8)
        for m, b in ((mask, qkv_bias), (None, qkv_bias), (mask, None)):
            expected = reference.window_attention(F.linear(x, weight, b), bias, m, 2, 0.3)
            torch.testing.assert_close(
                projected_window_attention(x, weight, b, bias, m, 2, 0.3), expected)
            assert torch.autograd.gradcheck(
                lambda x, w, t: projected_window_attention(x, w, b, t, m, 2, 0.3),
                (x, weight, bias))
    assert torch.autograd.gradcheck(
        lambda *a: projected_window_attention(*a, mask, 2, 0.3), (x, weight, qkv_bias, bias))


def test_projected_window_attention_gradients_of_only_what_needs_them():
    """A frozen projection (or an input that needs none) gets None, the rest the composition's."""
    torch.manual_seed(0)
    x = torch.randn(6, 5, 8, requires_grad=True)
    weight, qkv_bias = torch.randn(24, 8, requires_grad=True), torch.randn(24, requires_grad=True)
    bias = torch.randn(2, 5, 5, requires_grad=True)
    grad = torch.randn(6, 5, 8)
    inputs = (x, weight, qkv_bias, bias)
    expected = torch.autograd.grad(
        window_attention(F.linear(x, weight, qkv_bias), bias, None, 2, 0.3), inputs, grad)
    for frozen in (weight, x):
        frozen.requires_grad_(False)
        wanted = [t for t in inputs if t.requires_grad]
        got = torch.autograd.grad(
            projected_window_attention(x, weight, qkv_bias, bias, None, 2, 0.3), wanted, grad)
        for a, b in zip(got, [e for t, e in zip(inputs, expected) if t.requires_grad]):
            torch.testing.assert_close(a, b)
        frozen.requires_grad_(True)


def test_window_attention_backward_in_chunks_of_windows(monkeypatch):
    """The backward runs over ranges of windows (whole images, or part of one, when the mask
    differs per window): with ranges of 2 and 4 windows (B=2 images of nW=3) gradients are
    exact."""
    qkv = _qkv()
    bias = torch.randn(2, 5, 5, dtype=torch.double, requires_grad=True)
    mask = torch.randn(3, 5, 5, dtype=torch.double)
    for windows in (2, 4):  # within one image; one whole image per range (B=2 of nW=3)
        monkeypatch.setattr(chunks, 'CHUNK_BYTES', windows * 2 * 5 * 5 * 8)
        for m in (mask, None):
            assert torch.autograd.gradcheck(lambda t, b: window_attention(t, b, m, 2, 0.3),
                                            (qkv, bias))
