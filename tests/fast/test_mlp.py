"""The MLP's fast paths against the reference MLP: fused fc1 + GELU in inference, chunked CPU
training, GELU recomputed in backward; exact gradients (gradcheck) and less saved memory."""
import pytest
import torch
import torch.nn.functional as F

from swin_mm.fast import chunks
from swin_mm.fast.mlp import chunked_mlp, gelu_linear, linear_gelu
from swin_mm.profiling import saved_activation_bytes

pytestmark = pytest.mark.usefixtures('library')


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


def test_mlp_inference_equals_the_plain_mlp():
    """fc2 with and without a bias: the same numbers as the plain ops."""
    from swin_mm.fast.mlp import mlp_inference
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


def test_gelu_linear_gradcheck_and_value():
    torch.manual_seed(0)
    h = torch.randn(2, 3, 6, dtype=torch.double, requires_grad=True)
    w = torch.randn(4, 6, dtype=torch.double, requires_grad=True)
    b = torch.randn(4, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(gelu_linear, (h, w, b))
    assert torch.autograd.gradcheck(lambda h, w: gelu_linear(h, w, None), (h, w))
    torch.testing.assert_close(gelu_linear(h, w, b), F.linear(F.gelu(h), w, b))


def test_gelu_linear_saves_only_the_pre_activation():
    h = torch.randn(7, 16, requires_grad=True)
    w = torch.randn(4, 16, requires_grad=True)
    assert saved_activation_bytes(lambda: gelu_linear(h, w, None), exclude=[w]) == h.numel() * 4
    assert saved_activation_bytes(lambda: F.linear(F.gelu(h), w), exclude=[w]) == 2 * h.numel() * 4


def _mlp_inputs(dtype=torch.double):
    """x (2, 5, 6) tokens, fc1 6 -> 8, fc2 8 -> 4, all requiring grad."""
    torch.manual_seed(0)
    shapes = ((2, 5, 6), (8, 6), (8,), (4, 8), (4,))
    return [torch.randn(s, dtype=dtype, requires_grad=True) for s in shapes]


def _plain_mlp(x, w1, b1, w2, b2):
    return F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)


def test_chunked_mlp_in_ragged_chunks_is_exact(monkeypatch):
    """Chunks of 3 tokens (10 tokens: a ragged last chunk), with and without either bias: values
    are the plain ops' and gradients pass gradcheck."""
    monkeypatch.setattr(chunks, 'CHUNK_BYTES', 3 * 8 * 8)
    x, w1, b1, w2, b2 = _mlp_inputs()
    for bias1, bias2 in ((b1, b2), (None, b2), (b1, None)):
        torch.testing.assert_close(chunked_mlp(x, w1, bias1, w2, bias2),
                                   _plain_mlp(x, w1, bias1, w2, bias2))
        assert torch.autograd.gradcheck(
            lambda x, w1, w2: chunked_mlp(x, w1, bias1, w2, bias2), (x, w1, w2))
    assert torch.autograd.gradcheck(chunked_mlp, (x, w1, b1, w2, b2))


def test_chunked_mlp_gradients_of_only_what_needs_them():
    """Frozen weights (or an input that needs no gradient) get None, the rest the plain ops'."""
    x, w1, b1, w2, b2 = _mlp_inputs(torch.float32)
    grad = torch.randn(2, 5, 4)
    expected = torch.autograd.grad(_plain_mlp(x, w1, b1, w2, b2), (x, w1, b1, w2, b2), grad)
    for frozen in (w1, x):
        frozen.requires_grad_(False)
        inputs = [t for t in (x, w1, b1, w2, b2) if t.requires_grad]
        got = torch.autograd.grad(chunked_mlp(x, w1, b1, w2, b2), inputs, grad)
        want = [e for t, e in zip((x, w1, b1, w2, b2), expected) if t.requires_grad]
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b)
        frozen.requires_grad_(True)


def test_chunked_mlp_saves_its_input_and_the_pre_activation_only():
    x, w1, b1, w2, b2 = _mlp_inputs(torch.float32)
    params = [w1, b1, w2, b2]
    lean = saved_activation_bytes(lambda: chunked_mlp(x, w1, b1, w2, b2), exclude=params)
    assert lean == (10 * 6 + 10 * 8) * 4  # x and fc1's output, no GELU output
    assert lean < saved_activation_bytes(lambda: _plain_mlp(x, w1, b1, w2, b2), exclude=params)
