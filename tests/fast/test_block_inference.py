"""block_inference: a block's CPU inference range of windows by range gives the reference
block's numbers, for every padding, shift, mask, batch and chunk size, on both libraries."""
import pytest
import torch

from swin_mm import SwinBackbone
from swin_mm.fast import chunks, dispatch, gemm
from swin_mm.fast.block_inference import block_inference
from swin_mm.models.swin import SwinBlock
from tests.helpers.reference import assert_all_close, reference_copy, widen_parameters

pytestmark = pytest.mark.skipif(not gemm.ONEDNN_AVAILABLE, reason='needs oneDNN (fused GELU)')


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
    widen_parameters(block)
    x = torch.randn(2, *size, 32)
    monkeypatch.setattr(chunks, 'CHUNK_BYTES', chunk_bytes)
    with torch.no_grad():
        assert dispatch.block_inference_applies(block, x)
        expected = block.forward_reference(x)
        got = block_inference(block, x)
    # the same operations on every token; libraries may block a product differently by its rows
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_backbone_equals_the_reference_backbone(library):
    """Every stage (padding at every size, patch merging, batch of two) at once."""
    torch.manual_seed(0)
    model = widen_parameters(SwinBackbone('tiny', depths=(2, 2, 2, 2), drop_path_rate=0.0))
    model.eval()
    reference = reference_copy(model)
    x = torch.randn(2, 3, 100, 130)
    with torch.no_grad():
        assert_all_close(model(x), reference(x), 1e-5)
