"""gemm: which library runs the CPU products, and that either gives the plain ops' numbers."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from swin_mm.fast import gemm
from swin_mm.fast.dispatch import FastLinear

ONEDNN_AVAILABLE = gemm.choose_onednn('onednn')
AVX512 = 'fpu sse2 avx2 avx512f avx512bw'


def test_choice_follows_the_setting_then_the_cpu():
    assert not gemm.choose_onednn('mkl', vendor='AuthenticAMD', flags=AVX512)
    assert gemm.choose_onednn('onednn', vendor='GenuineIntel') == ONEDNN_AVAILABLE
    # MKL runs its best code on Intel's CPUs, and is as fast as oneDNN where there is no AVX-512
    assert not gemm.choose_onednn('', vendor='GenuineIntel', flags=AVX512)
    assert not gemm.choose_onednn('', vendor='AuthenticAMD', flags='fpu sse2 avx2 fma')
    assert not gemm.choose_onednn('', vendor='', flags='')  # unknown (not x86 Linux)
    assert gemm.choose_onednn('', vendor='AuthenticAMD', flags=AVX512) == (
        ONEDNN_AVAILABLE and torch.backends.mkl.is_available())
    assert isinstance(gemm._cpu_info().get('flags', ''), str)
    with pytest.raises(ValueError, match=r"SWIN_MM_CPU_GEMM='blas'.*'onednn', 'mkl'"):
        gemm.choose_onednn('blas')


def test_uses_onednn_only_for_fp32_cpu_outside_autocast(monkeypatch):
    monkeypatch.setattr(gemm, 'ONEDNN', True)
    x, w = torch.randn(4, 8), torch.randn(3, 8)
    assert gemm.uses_onednn(x, w)
    assert not gemm.uses_onednn(x.double(), w.double())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert not gemm.uses_onednn(x, w)
    monkeypatch.setattr(gemm, 'ONEDNN', False)
    assert not gemm.uses_onednn(x, w)


def test_products_equal_the_plain_ops(library):
    torch.manual_seed(0)
    x, w, b = torch.randn(37, 24), torch.randn(40, 24), torch.randn(40)
    grad = torch.randn(37, 40)
    for bias in (b, None):
        torch.testing.assert_close(gemm.linear(x.view(1, 37, 24), w, bias),
                                   F.linear(x, w, bias).view(1, 37, 40))
        torch.testing.assert_close(gemm.linear_into(torch.empty(37, 40), x, w, bias),
                                   F.linear(x, w, bias))
    torch.testing.assert_close(gemm.linear(grad, w.t().contiguous(), None), grad @ w)
    for m, k in ((40, 24), (24, 40), (24, 24)):  # both orientations, and square (MKL)
        g, x_rows, start = torch.randn(37, m), torch.randn(37, k), torch.randn(m, k)
        torch.testing.assert_close(gemm.add_weight_grad(start.clone(), g, x_rows),
                                   start + g.t() @ x_rows)
    # a broadcast gradient (stride 0, as sum() sends) is read as the values it stands for
    ones = torch.ones(1, 1).expand(37, 40)
    torch.testing.assert_close(gemm.linear(ones, w.t().contiguous(), None),
                               torch.ones(37, 40) @ w)


@pytest.mark.parametrize('bias', [True, False])
def test_linear_module_is_nn_linear(library, bias):
    """Same parameters and state-dict keys; same outputs and gradients, also for a broadcast
    incoming gradient and a frozen weight."""
    torch.manual_seed(0)
    ours = FastLinear(24, 40, bias=bias)
    ref = torch.nn.Linear(24, 40, bias=bias)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 5, 24, requires_grad=True)
    for grad in (torch.randn(2, 5, 40), torch.ones(1, 1, 1).expand(2, 5, 40)):
        for frozen in (False, True):
            ours.weight.requires_grad_(not frozen)
            ref.weight.requires_grad_(not frozen)
            wanted = [x] + [p for p in ours.parameters() if p.requires_grad]
            got = torch.autograd.grad(ours(x), wanted, grad)
            expected = torch.autograd.grad(
                ref(x), [x] + [p for p in ref.parameters() if p.requires_grad], grad)
            for a, e in zip(got, expected):
                torch.testing.assert_close(a, e)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


def test_backbone_gradients_close_to_float64(library):
    """A Swin-T training step in fp32 (both attention layouts, padding, patch merging) against the
    same model in float64 (which the plain ops run)."""
    from swin_mm import SwinBackbone
    torch.manual_seed(0)
    model = SwinBackbone('tiny', depths=(2, 2, 2, 2), drop_path_rate=0.0).train()
    x = torch.randn(1, 3, 100, 130)
    weights = [torch.randn(o.shape) for o in model(x)]  # a loss without LayerNorm's cancellation
    reference = copy.deepcopy(model).double()
    for m, inp in ((model, x), (reference, x.double())):
        sum((o * w.to(o.dtype)).sum() for o, w in zip(m(inp), weights)).backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        err = ((p.grad.double() - q.grad).norm() / q.grad.norm()).item()
        assert err < 1e-4, (name, err)


def test_products_from_packed_weights_equal_the_plain_ops(library):
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 37, 24), torch.randn(40, 24), torch.randn(40)
    for bias in (b, None):
        with gemm.reuse_packed_weights():
            torch.testing.assert_close(gemm.linear(x, w, bias, pack=True), F.linear(x, w, bias))
        torch.testing.assert_close(gemm.linear(x, w, bias, pack=True), F.linear(x, w, bias))


@pytest.mark.skipif(not ONEDNN_AVAILABLE, reason="this torch build has no oneDNN linear")
def test_packed_weight_is_reused_within_a_span_and_follows_every_change():
    """Changes that leave the version counter alone are seen too: a fused optimizer's step and
    writes through ``.data`` (MMEngine's EMAHook swaps weights that way)."""
    torch.manual_seed(0)
    x, w = torch.randn(5, 24), nn.Parameter(torch.randn(40, 24))
    assert gemm.packed_weight(w) is w  # outside a span: the plain weight

    def check():
        with gemm.reuse_packed_weights():
            packed = gemm.packed_weight(w)
            with gemm.reuse_packed_weights():  # nested: the same span
                assert gemm.packed_weight(w) is packed
            assert packed is not w
            assert torch.equal(gemm._onednn_linear(x, packed, None),
                               gemm._onednn_linear(x, w.detach(), None))
        return packed

    first = check()
    assert check() is first  # unchanged: packed once
    version = w._version
    w.grad = torch.randn(40, 24)
    torch.optim.AdamW([w], lr=0.1, fused=True).step()
    w.data.copy_(w.data.flip(0))
    assert w._version == version  # both went unseen by the version counter...
    assert check() is not first  # ...and not by the packed layout
    with torch.no_grad():
        w.mul_(2)
    check()
    w.data = torch.randn(40, 24)  # a new storage under the same tensor
    check()
    count = len(gemm._PACKED)
    del w
    assert len(gemm._PACKED) == count - 1  # the packed layout dies with its weight


@pytest.mark.skipif(not ONEDNN_AVAILABLE, reason="this torch build has no oneDNN linear")
def test_linear_module_inference_from_packed_weight_survives_changes_and_copies(monkeypatch):
    monkeypatch.setattr(gemm, 'ONEDNN', True)
    torch.manual_seed(0)
    layer, x = FastLinear(24, 40), torch.randn(3, 24)
    with torch.no_grad():
        for _ in range(2):
            with gemm.reuse_packed_weights():
                torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
            layer.load_state_dict({'weight': torch.randn(40, 24), 'bias': torch.zeros(40)})
    twin = copy.deepcopy(layer)  # nothing of the packed layout lives on the module
    assert set(twin.state_dict()) == {'weight', 'bias'}
    with torch.inference_mode(), gemm.reuse_packed_weights():
        made_there = FastLinear(24, 40)  # an inference tensor: no version counter, no matter
        torch.testing.assert_close(made_there(x), F.linear(x, made_there.weight, made_there.bias))


@pytest.mark.skipif(not ONEDNN_AVAILABLE, reason="this torch build has no oneDNN linear")
def test_flop_counter_and_shapes_see_onednn_products(monkeypatch):
    """FlopCounterMode and profiling.matmul_shapes count oneDNN's linear, from a plain or a
    packed weight, as 2 * rows * M * K."""
    from torch.utils.flop_counter import FlopCounterMode

    from swin_mm.profiling import matmul_shapes
    monkeypatch.setattr(gemm, 'ONEDNN', True)
    x, w = torch.randn(37, 24), torch.randn(40, 24)

    class Both(torch.nn.Module):
        def forward(self, x):
            return gemm.linear(x, w, None) + gemm.linear(x, w, None, pack=True)

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter, gemm.reuse_packed_weights():
        Both()(x)
    assert counter.get_total_flops() == 2 * (2 * 37 * 40 * 24)
    assert matmul_shapes(Both(), x) == {(37, 24, 40): 2}
