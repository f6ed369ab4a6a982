"""Fixtures shared by the test suite, and the fixed hypothesis profile."""
import pytest
from hypothesis import settings

from swin_mm.fast import gemm

# Property tests draw the same examples on every run and machine (a failure reproduces; CI cannot
# pass by luck), and keep no example database on disk.
settings.register_profile('swin_mm', derandomize=True, database=None, deadline=None)
settings.load_profile('swin_mm')


@pytest.fixture(params=['mkl', 'onednn'])
def library(request, monkeypatch):
    """Run the test with CPU products on MKL, then on oneDNN, whatever this CPU's vendor would
    choose, so that every machine checks both libraries' code."""
    if request.param == 'onednn' and not gemm.ONEDNN_AVAILABLE:
        pytest.skip('this torch build has no oneDNN linear')
    monkeypatch.setattr(gemm, 'ONEDNN', request.param == 'onednn')
    return request.param
