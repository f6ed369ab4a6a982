"""The CUDA training attention's plumbing, on CPU: the fused kernel is replaced by a float64
reference with the same contract (layouts, log-sum-exp, bias gradient), so these check what
swin_mm adds around it: the bias + mask it builds (alignment, all images' windows), the gradient
it returns for qkv and the bias, and what it keeps. tests/models/test_cuda.py runs the real
kernel on a GPU."""
import pytest
import torch

import swin_mm.fast.attention_cuda as efficient
from swin_mm.fast.attention_cpu import window_attention
from swin_mm.fast.attention_cuda import aligned_attention_bias, efficient_window_attention
from swin_mm.profiling import saved_activation_bytes


def _reference_forward(q, k, v, attn_bias, scale):
    """The kernel's contract: strides of the bias aligned, out (Bw, h, N, d) over (Bw, N, h, d)
    storage, per-row log-sum-exp."""
    assert attn_bias.stride(-1) == 1, attn_bias.stride()
    aligned = [s % efficient.BIAS_ALIGNMENT == 0 for s in attn_bias.stride()[:-1]]
    assert all(aligned), attn_bias.stride()
    logits = q @ k.transpose(-2, -1) * scale + attn_bias
    out = (logits.softmax(-1) @ v).transpose(1, 2).contiguous().transpose(1, 2)
    return out, logits.logsumexp(-1), torch.empty(()), torch.empty(())


def _reference_backward(grad_out, q, k, v, attn_bias, out, logsumexp, seed, offset, scale,
                        bias_grad):
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_() for t in (q, k, v, attn_bias)]
        q_, k_, v_, b_ = leaves
        o = torch.softmax(q_ @ k_.transpose(-2, -1) * scale + b_, -1) @ v_
        dq, dk, dv, dbias = torch.autograd.grad(o, leaves, grad_out)
    return dq, dk, dv, (dbias if bias_grad else None)


@pytest.fixture(autouse=True)
def reference_kernel(monkeypatch):
    monkeypatch.setattr(efficient, '_kernel_forward', _reference_forward)
    monkeypatch.setattr(efficient, '_kernel_backward', _reference_backward)


def _inputs(dtype=torch.double):
    """qkv (B * nW, N, 3C) for B=2, nW=3, N=5, h=2, d=4; bias (h, N, N); mask (nW, N, N)."""
    torch.manual_seed(0)
    qkv = torch.randn(6, 5, 24, dtype=dtype, requires_grad=True)
    bias = torch.randn(2, 5, 5, dtype=dtype, requires_grad=True)
    return qkv, bias, torch.randn(3, 5, 5, dtype=dtype)


@pytest.mark.parametrize('with_mask', [True, False])
def test_gradcheck(with_mask):
    qkv, bias, mask = _inputs()
    mask = mask if with_mask else None
    assert torch.autograd.gradcheck(
        lambda t, b: efficient_window_attention(t, b, mask, 2, 0.3), (qkv, bias))


@pytest.mark.parametrize('with_mask', [True, False])
def test_equals_the_cpu_training_path(with_mask):
    qkv, bias, mask = _inputs()
    mask = mask if with_mask else None
    grad = torch.randn(6, 5, 8, dtype=torch.double)
    results = []
    for attend in (efficient_window_attention, window_attention):
        out = attend(qkv, bias, mask, 2, 0.3)
        results.append((out, *torch.autograd.grad(out, (qkv, bias), grad)))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)


def test_aligned_attention_bias_covers_every_image_and_window():
    _, bias, mask = _inputs()
    full = aligned_attention_bias(bias.detach(), mask, 6)  # B=2 images of nW=3 windows
    assert full.shape == (6, 2, 5, 5) and full.stride(2) % efficient.BIAS_ALIGNMENT == 0
    for b in range(2):
        for w in range(3):
            torch.testing.assert_close(full[3 * b + w], bias.detach() + mask[w])
    shared = aligned_attention_bias(bias.detach(), None, 6)
    assert shared.stride(0) == 0 and torch.equal(shared[4], bias.detach())


def test_mask_in_another_dtype_is_added_in_the_bias_dtype():
    _, bias, mask = _inputs(torch.float32)
    full = aligned_attention_bias(bias.detach().bfloat16(), mask, 3)
    assert full.dtype == torch.bfloat16
    expected = (bias.detach().bfloat16().float() + mask[:, None]).expand(3, 2, 5, 5)
    torch.testing.assert_close(full.float(), expected, atol=0.02, rtol=0.01)


def test_keeps_nothing_per_window_pair():
    """qkv, the output, the log-sum-exp and the two scalars of the dropout RNG; the bias and the
    mask are excluded (a parameter's gather and a cached tensor): no (B * nW, h, N, N) sum of
    the two, which SDPA's autograd would keep."""
    qkv, bias, mask = _inputs(torch.float32)
    saved = saved_activation_bytes(lambda: efficient_window_attention(qkv, bias, mask, 2, 0.3),
                                   exclude=[bias, mask])
    assert saved == 4 * (qkv.numel() + qkv.numel() // 3 + 6 * 2 * 5 + 2)
