"""block_inference: a block's CPU inference range of windows by range gives the plain forward's
numbers, for every padding, shift, mask and batch, and serves only where it should."""
import pytest
import torch

from swin_mm import SwinBackbone
from swin_mm.models import block_inference as bi
from swin_mm.models import swin
from swin_mm.models.swin import SwinBlock
from swin_mm.ops import gemm

ONEDNN_AVAILABLE = gemm.choose_onednn('onednn')
pytestmark = pytest.mark.skipif(not gemm.ONEDNN_AVAILABLE, reason='needs oneDNN (fused GELU)')


@pytest.fixture(params=[False, True], ids=['mkl', 'onednn'])
def library(request, monkeypatch):
    """Linear products on MKL, then on oneDNN (what this CPU would choose aside)."""
    if request.param and not ONEDNN_AVAILABLE:
        pytest.skip('no oneDNN linear')
    monkeypatch.setattr(gemm, 'ONEDNN', request.param)


def _plain(module, x, monkeypatch):
    """The module's output with every block on the plain forward."""
    with monkeypatch.context() as patch:
        patch.setattr(swin, 'block_inference_applies', lambda block, x: False)
        return module(x)


@pytest.mark.parametrize('size', [(14, 14), (15, 23), (9, 30), (3, 5)])
@pytest.mark.parametrize('shift', [False, True])
@pytest.mark.parametrize('mask_padding', [False, True])
@pytest.mark.parametrize('chunk_bytes', [1, 40_000, 2 ** 30])  # one window, ragged, all at once
def test_block_equals_plain_forward(library, monkeypatch, size, shift, mask_padding,
                                    chunk_bytes):
    _check_block(monkeypatch, 7, size, shift, mask_padding, chunk_bytes)


@pytest.mark.parametrize('window', [12, (5, 3)])  # the 384-pixel models' window; a rectangle
def test_other_windows_equal_plain_forward(library, monkeypatch, window):
    for shift in (False, True):
        _check_block(monkeypatch, window, (17, 26), shift, False, 40_000)


def _check_block(monkeypatch, window, size, shift, mask_padding, chunk_bytes):
    torch.manual_seed(0)
    block = SwinBlock(32, 4, window_size=window, shift=shift, mask_padding=mask_padding).eval()
    with torch.no_grad():
        for p in block.parameters():  # norms and biases away from their 1 / 0 start
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.randn(2, *size, 32)
    monkeypatch.setattr(bi, 'CHUNK_BYTES', chunk_bytes)
    with torch.no_grad():
        assert bi.block_inference_applies(block, x)
        expected = _plain(block, x, monkeypatch)
        got = block(x)
    # the same operations on every token; libraries may block a product differently by its rows
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_backbone_equals_plain_forward(monkeypatch):
    """Every stage (padding at every size, patch merging, batch of two) at once."""
    torch.manual_seed(0)
    model = SwinBackbone('tiny', depths=(2, 2, 2, 2), drop_path_rate=0.0).eval()
    x = torch.randn(2, 3, 100, 130)
    with torch.no_grad():
        for got, expected in zip(model(x), _plain(model, x, monkeypatch)):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_serves_only_fp32_cpu_inference_in_eval_with_exact_gelu():
    block = SwinBlock(32, 4).eval()
    x = torch.randn(1, 7, 7, 32)
    with torch.no_grad():
        assert bi.block_inference_applies(block, x)
        assert not bi.block_inference_applies(block, x.double())
        assert not bi.block_inference_applies(block.train(), x)  # dropout, stochastic depth
        block.eval()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert not bi.block_inference_applies(block, x)
        block.mlp.act = torch.nn.GELU(approximate='tanh')
        assert not bi.block_inference_applies(block, x)
    assert not bi.block_inference_applies(SwinBlock(32, 4).eval(), x)  # autograd records
