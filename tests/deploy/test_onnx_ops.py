"""NMS and RoIAlign: the PyTorch side against a naive greedy NMS, and onnxruntime's standard
operators (what the exported graph runs) against the PyTorch side."""
import io

import numpy as np
import pytest
import torch

from swin_mm.deploy.onnx_ops import non_max_suppression, roi_align

ort = pytest.importorskip('onnxruntime')


def naive_nms(boxes, scores, iou_threshold, score_threshold):
    """Greedy NMS of one class, from the definition: (K,) kept indices by descending score."""
    order = [i for i in sorted(range(len(scores)), key=lambda i: -float(scores[i]))
             if scores[i] > score_threshold]
    kept = []
    for i in order:
        ious = []
        for j in kept:
            x1, y1 = torch.maximum(boxes[i, :2], boxes[j, :2])
            x2, y2 = torch.minimum(boxes[i, 2:], boxes[j, 2:])
            inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
            ious.append(float(inter / (area(boxes[i]) + area(boxes[j]) - inter)))
        if all(v <= iou_threshold for v in ious):
            kept.append(i)
    return kept


def random_boxes(batch, n, generator):
    xy = torch.rand(batch, n, 2, generator=generator) * 100
    return torch.cat([xy, xy + 5 + torch.rand(batch, n, 2, generator=generator) * 40], -1)


class Ops(torch.nn.Module):
    def forward(self, boxes, scores, features, rois):
        return (non_max_suppression(boxes, scores, 1000, 0.5, 0.05),
                roi_align(features, rois, 7, 0.25, 0))


@pytest.fixture(scope='module')
def session():
    g = torch.Generator().manual_seed(0)
    example = (random_boxes(2, 30, g), torch.rand(2, 3, 30, generator=g),
               torch.randn(2, 4, 20, 30, generator=g), torch.tensor([[0., 1., 2., 30., 40.]]))
    buffer = io.BytesIO()
    torch.onnx.export(Ops(), example, buffer, dynamo=False, opset_version=17,
                      input_names=['boxes', 'scores', 'features', 'rois'],
                      dynamic_axes={'boxes': {0: 'b', 1: 'n'}, 'scores': {0: 'b', 1: 'c', 2: 'n'},
                                    'features': {0: 'b', 2: 'h', 3: 'w'}, 'rois': {0: 'r'}})
    return ort.InferenceSession(buffer.getvalue(), providers=['CPUExecutionProvider'])


def test_nms_equals_the_greedy_definition():
    g = torch.Generator().manual_seed(1)
    boxes, scores = random_boxes(2, 60, g), torch.rand(2, 3, 60, generator=g)
    scores[0, 0, :4] = 0.05  # exactly the threshold: not kept (strictly greater)
    selected = non_max_suppression(boxes, scores, 1000, 0.5, 0.05)
    for b in range(2):
        for c in range(3):
            rows = selected[(selected[:, 0] == b) & (selected[:, 1] == c)]
            assert rows[:, 2].tolist() == naive_nms(boxes[b], scores[b, c], 0.5, 0.05)


@pytest.mark.parametrize('batch, classes, n', [(1, 1, 5), (2, 3, 60), (3, 5, 200)])
def test_onnxruntime_selects_what_pytorch_selects(session, batch, classes, n):
    g = torch.Generator().manual_seed(n)
    boxes, scores = random_boxes(batch, n, g), torch.rand(batch, classes, n, generator=g)
    features = torch.randn(batch, 4, 20, 30, generator=g)
    rois = torch.cat([torch.randint(0, batch, (9, 1), generator=g).float(),
                      random_boxes(1, 9, g)[0]], 1)
    rois[0, 1:] = torch.tensor([10., 10., 10.5, 30.])  # thinner than a pixel
    expected_sel, expected_roi = Ops()(boxes, scores, features, rois)
    sel, pooled = session.run(None, dict(boxes=boxes.numpy(), scores=scores.numpy(),
                                         features=features.numpy(), rois=rois.numpy()))
    assert sorted(map(tuple, sel.tolist())) == sorted(map(tuple, expected_sel.tolist()))
    np.testing.assert_allclose(pooled, expected_roi.numpy(), rtol=1e-5, atol=1e-5)
