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


def test_mlp_inference_equals_the_plain_mlp():
    """fc2 with and without a bias: the same numbers as the plain ops."""
    from swin_mm.ops.linear_gelu import mlp_inference
    x, _, _ = _inputs()  # 70 tokens of 16 channels
    torch.manual_seed(1)
    fc1, fc2 = torch.nn.Linear(16, 64), torch.nn.Linear(64, 16)
    with torch.no_grad():
        for bias in (fc2.bias, None):
            fc2.bias = bias
            expected = fc2(F.gelu(fc1(x)))
            out = mlp_inference(x, fc1, fc2)
            assert out.shape == (2, 5, 7, 16)
            torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
            with torch.autocast('cpu', dtype=torch.bfloat16):  # not fusable: the plain ops
                assert mlp_inference(x, fc1, fc2).dtype == torch.bfloat16
