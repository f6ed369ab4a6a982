"""What tools/export.py exports for a model: the graph module and its named, dynamic inputs and
outputs (:class:`~.onnx_export.GraphSpec`)."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .adaptive_pool import make_pooling_traceable
from .graphs import BackboneGraph, SegmentorGraph
from .onnx_export import GraphSpec

__all__ = ['backbone_spec', 'segmentor_spec', 'model_spec']

_IMAGE_AXES = {0: 'batch', 2: 'height', 3: 'width'}


def backbone_spec(backbone: nn.Module) -> GraphSpec:
    """The backbone alone: ``image`` (B, 3, H, W) float32 -> ``feat{i}`` per emitted stage."""
    names = [f'feat{i}' for i in backbone.out_indices]
    axes = {'image': _IMAGE_AXES}
    description = ['image: (batch, 3, height, width) float32, normalised as the model was trained']
    for i, name in zip(backbone.out_indices, names):
        axes[name] = {0: 'batch', 2: f'height_s{backbone.strides[i]}',
                      3: f'width_s{backbone.strides[i]}'}
        description.append(f'{name}: (batch, {backbone.num_features[i]}, '
                           f'ceil(height/{backbone.strides[i]}), ceil(width/'
                           f'{backbone.strides[i]})) float32')
    return GraphSpec(BackboneGraph(backbone), torch.float32, names, axes, description)


def segmentor_spec(segmentor: nn.Module) -> GraphSpec:
    """Whole-image UperNet (any ``EncoderDecoder``): ``image`` (B, 3, H, W) uint8 BGR ->
    ``logits`` (B, K, H, W) float32 and ``labels`` (B, H, W) int64."""
    from mmengine.model import revert_sync_batchnorm
    if segmentor.test_cfg.get('mode', 'whole') != 'whole':
        raise ConfigError(f'model.test_cfg.mode={segmentor.test_cfg.mode!r}: only whole-image '
                          f'inference is exported (sliding windows run outside the graph)')
    segmentor = revert_sync_batchnorm(segmentor)
    make_pooling_traceable(segmentor)
    k = segmentor.decode_head.out_channels
    axes = {'image': _IMAGE_AXES, 'logits': _IMAGE_AXES,
            'labels': {0: 'batch', 1: 'height', 2: 'width'}}
    description = ['image: (batch, 3, height, width) uint8 BGR, as the test pipeline loads it '
                   '(normalisation is in the graph)',
                   f'logits: (batch, {k}, height, width) float32',
                   'labels: (batch, height, width) int64, the argmax of logits']
    return GraphSpec(SegmentorGraph(segmentor), torch.uint8, ['logits', 'labels'], axes,
                     description)


def model_spec(model: nn.Module, scope: str, backbone_only: bool = False) -> GraphSpec:
    """The spec for a built detector or segmentor (or only its backbone)."""
    if backbone_only:
        return backbone_spec(model.backbone)
    if scope == 'mmseg':
        return segmentor_spec(model)
    from .detector_specs import detector_spec
    return detector_spec(model)
