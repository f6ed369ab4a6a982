"""Fixtures shared by the test suite."""
import pytest

from swin_mm.fast import gemm


@pytest.fixture(params=['mkl', 'onednn'])
def library(request, monkeypatch):
    """Run the test with CPU products on MKL, then on oneDNN, whatever this CPU's vendor would
    choose, so that every machine checks both libraries' code."""
    if request.param == 'onednn' and not gemm.ONEDNN_AVAILABLE:
        pytest.skip('this torch build has no oneDNN linear')
    monkeypatch.setattr(gemm, 'ONEDNN', request.param == 'onednn')
    return request.param
