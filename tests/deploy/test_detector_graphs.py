"""The detector graphs give MMDetection's own predictions (boxes, scores, labels, pasted masks)
in PyTorch, and onnxruntime gives the graph's, for any batch and size from one file."""
import io

import numpy as np
import pytest
import torch

from swin_mm.deploy.detector_specs import detector_spec
from swin_mm.deploy.runtime import detection_instances
from tests.helpers.tools import config_path

pytestmark = pytest.mark.slow
ort = pytest.importorskip('onnxruntime')


def build(config):
    """A toy detector with random weights (depths 2-2-2-2), scores lifted above the thresholds so
    that there is something to detect and suppress."""
    from mmengine.registry import MODELS, DefaultScope, init_default_scope

    from swin_mm.engine import load_config, prepare_runtime
    prepare_runtime()
    cfg = load_config(config_path(f'toy/{config}'))
    cfg.model.backbone.update(fast=False, init_cfg=None, depths=[2, 2, 2, 2])
    init_default_scope('mmdet')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model).eval()
    if hasattr(model, 'bbox_head'):
        torch.nn.init.normal_(model.bbox_head.atss_cls.bias, 0.0, 1.0)
        torch.nn.init.normal_(model.bbox_head.atss_cls.weight, 0.0, 0.05)
    return model


def mmdet_predict(model, image):
    from mmdet.structures import DetDataSample
    shape = tuple(image.shape[1:])
    sample = DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, scale_factor=(1., 1.)))
    with torch.no_grad():
        return model.test_step(dict(inputs=[image], data_samples=[sample]))[0].pred_instances


def assert_same_detections(got, expected, masks):
    assert len(expected) > 3, 'nothing detected: the test would show nothing'
    assert len(got) == len(expected)
    torch.testing.assert_close(got.scores, expected.scores, rtol=1e-4, atol=1e-5)
    assert torch.equal(got.labels, expected.labels)
    torch.testing.assert_close(got.bboxes, expected.bboxes, rtol=1e-4, atol=1e-3)
    if masks:
        differ = (got.masks != expected.masks).float().mean().item()
        assert differ < 1e-3, differ


@pytest.mark.parametrize('config, masks', [('atss_swin_t_toy.py', False),
                                           ('mask_rcnn_swin_t_toy.py', True),
                                           ('cascade_mask_rcnn_swin_t_toy.py', True)])
def test_graph_predicts_what_mmdetection_predicts(config, masks):
    model = build(config)
    spec = detector_spec(model)
    g = torch.Generator().manual_seed(1)
    for shape in [(3, 96, 96), (3, 77, 131)]:
        image = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
        with torch.no_grad():
            outputs = spec.module(image[None])
        got = detection_instances(outputs, dict(scale_factor=(1., 1.), ori_shape=shape[1:]))
        assert_same_detections(got, mmdet_predict(model, image), masks)


@pytest.mark.parametrize('config', ['atss_swin_t_toy.py', 'mask_rcnn_swin_t_toy.py',
                                    'cascade_mask_rcnn_swin_t_toy.py'])
def test_one_onnx_file_serves_every_batch_and_size(config):
    spec = detector_spec(build(config))
    g = torch.Generator().manual_seed(2)
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(spec.module, (torch.randint(0, 256, (1, 3, 96, 96), dtype=torch.uint8,
                                                      generator=g),),
                          buffer, dynamo=False, opset_version=17, input_names=['image'],
                          output_names=spec.output_names, dynamic_axes=spec.dynamic_axes)
    session = ort.InferenceSession(buffer.getvalue(), providers=['CPUExecutionProvider'])
    for shape in [(2, 3, 96, 96), (1, 3, 45, 31), (3, 3, 70, 133)]:
        image = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
        with torch.no_grad():
            expected = spec.module(image)
        got = session.run(None, {'image': image.numpy()})
        assert (expected[0][..., 4] > 0).sum() > 3
        for e, o in zip(expected, got):
            np.testing.assert_allclose(o, e.numpy(), rtol=1e-4, atol=1e-4)
