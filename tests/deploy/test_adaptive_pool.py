"""The traceable adaptive pooling equals PyTorch's at every size, and exports for every size."""
import io

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from swin_mm.deploy.adaptive_pool import (TraceableAdaptiveAvgPool2d, adaptive_avg_pool2d,
                                          make_pooling_traceable)


@pytest.mark.parametrize('size', [(1, 1), (2, 3), (5, 7), (6, 6), (13, 3), (40, 61)])
@pytest.mark.parametrize('bins', [(1, 1), (2, 2), (3, 3), (6, 6), (3, 5)])
def test_equals_adaptive_avg_pool2d_in_float64(size, bins):
    x = torch.randn(2, 3, *size, dtype=torch.float64) * 10 + 3
    torch.testing.assert_close(adaptive_avg_pool2d(x, bins), F.adaptive_avg_pool2d(x, bins),
                               rtol=1e-12, atol=1e-12)


def test_replaces_all_but_global_pools():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Sequential(nn.AdaptiveAvgPool2d((2, 3))),
                          nn.AdaptiveAvgPool2d(6))
    assert make_pooling_traceable(model) == 2
    assert isinstance(model[0], nn.AdaptiveAvgPool2d)
    assert isinstance(model[1][0], TraceableAdaptiveAvgPool2d) and model[1][0].output_size == (2, 3)
    with pytest.raises(ValueError, match='None'):
        TraceableAdaptiveAvgPool2d((None, 3))


def test_one_onnx_graph_serves_every_size():
    ort = pytest.importorskip('onnxruntime')
    pool, buffer = TraceableAdaptiveAvgPool2d(6), io.BytesIO()
    torch.onnx.export(pool, (torch.randn(1, 2, 12, 12),), buffer, dynamo=False, opset_version=17,
                      input_names=['x'], dynamic_axes={'x': {0: 'b', 2: 'h', 3: 'w'}})
    session = ort.InferenceSession(buffer.getvalue(), providers=['CPUExecutionProvider'])
    for shape in [(1, 2, 12, 12), (2, 2, 7, 19), (1, 2, 3, 4), (3, 2, 50, 33)]:
        x = torch.randn(shape)
        got = session.run(None, {'x': x.numpy()})[0]
        np.testing.assert_allclose(got, F.adaptive_avg_pool2d(x, 6).numpy(), rtol=1e-5,
                                   atol=1e-5)
