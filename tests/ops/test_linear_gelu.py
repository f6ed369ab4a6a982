"""linear_gelu: F.gelu(F.linear(...)) exactly, fused in inference, plain while autograd records."""
import torch
import torch.nn.functional as F

from swin_mm.ops.linear_gelu import linear_gelu


def _inputs():
    torch.manual_seed(0)
    return torch.randn(2, 5, 7, 16), torch.randn(64, 16) * 0.2, torch.randn(64) * 0.2


def test_equals_linear_then_exact_gelu():
    x, w, b = _inputs()
    with torch.no_grad():
        for bias in (b, None):
            out = linear_gelu(x, w, bias)
            assert out.shape == (2, 5, 7, 64)
            torch.testing.assert_close(out, F.gelu(F.linear(x, w, bias)), rtol=1e-5, atol=1e-6)


def test_gradients_flow_when_autograd_records():
    x, w, b = _inputs()
    w.requires_grad_()
    linear_gelu(x, w, b).sum().backward()
    expected = torch.autograd.grad(F.gelu(F.linear(x, w, b)).sum(), w)[0]
    torch.testing.assert_close(w.grad, expected)


def test_autocast_keeps_its_dtype():
    x, w, b = _inputs()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        assert linear_gelu(x, w, b).dtype == F.gelu(F.linear(x, w, b)).dtype == torch.bfloat16
