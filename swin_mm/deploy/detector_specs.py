"""Which detectors export (:mod:`.detector_graphs`) and what their graphs take and return."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .detector_graphs import ATSSGraph, MaskRCNNGraph
from .onnx_export import GraphSpec

__all__ = ['detector_spec', 'SUPPORTED']

#: detector class -> (graph, what its heads must be)
SUPPORTED = {
    'ATSS': (ATSSGraph, {'bbox_head': 'ATSSHead'}),
    'MaskRCNN': (MaskRCNNGraph, {'rpn_head': 'RPNHead', 'roi_head': 'StandardRoIHead',
                                 'roi_head.bbox_head': 'Shared2FCBBoxHead',
                                 'roi_head.mask_head': 'FCNMaskHead'}),
}


def _check_parts(detector: nn.Module, parts: dict) -> None:
    name = type(detector).__name__
    for path, expected in parts.items():
        module = detector
        for attr in path.split('.'):
            module = getattr(module, attr, None)
        if type(module).__name__ != expected:
            raise ConfigError(f'{name} with model.{path} of type {type(module).__name__}: '
                              f'export supports {expected} there')
    for attr in ('bbox_head', 'rpn_head', 'roi_head.bbox_head'):
        module = detector
        for part in attr.split('.'):
            module = getattr(module, part, None)
        coder = getattr(module, 'bbox_coder', None)
        if coder is not None and (type(coder).__name__ != 'DeltaXYWHBBoxCoder'
                                  or getattr(coder, 'add_ctr_clamp', False)):
            raise ConfigError(f'model.{attr}.bbox_coder {type(coder).__name__}: export '
                              f'supports DeltaXYWHBBoxCoder without add_ctr_clamp')
    head = getattr(detector, 'roi_head', None)
    if head is not None:
        if head.bbox_head.reg_class_agnostic or head.mask_head.class_agnostic:
            raise ConfigError('class-agnostic box or mask regression is not exported')
        for extractor in (head.bbox_roi_extractor, head.mask_roi_extractor):
            for layer in extractor.roi_layers:
                if not getattr(layer, 'aligned', False) or layer.pool_mode != 'avg':
                    raise ConfigError(f'RoI layer {layer}: export supports average RoIAlign '
                                      f'with aligned=True (ONNX RoiAlign, half_pixel)')


def detector_spec(detector: nn.Module) -> GraphSpec:
    """The graph of an MMDetection detector: ``image`` (B, 3, H, W) uint8 BGR -> ``dets``
    (B, k, 5), ``labels`` (B, k) (and ``masks`` (B, k, 28, 28) for Mask R-CNN)."""
    name = type(detector).__name__
    if name not in SUPPORTED:
        raise ConfigError(f'detector {name}: export supports {", ".join(SUPPORTED)} '
                          f'(--backbone-only exports the backbone of any model)')
    graph_type, parts = SUPPORTED[name]
    _check_parts(detector, parts)
    cfg = detector.test_cfg.get('rcnn', detector.test_cfg)
    k = cfg.max_per_img
    axes = {'image': {0: 'batch', 2: 'height', 3: 'width'}, 'dets': {0: 'batch'},
            'labels': {0: 'batch'}}
    names = ['dets', 'labels']
    description = ['image: (batch, 3, height, width) uint8 BGR, as the test pipeline loads it '
                   '(normalisation and padding are in the graph)',
                   f'dets: (batch, {k}, 5) float32 x1, y1, x2, y2 in input pixels, score '
                   f'(score 0: empty slot)',
                   f'labels: (batch, {k}) int64']
    if name == 'MaskRCNN':
        head = detector.roi_head
        size = head.mask_roi_extractor.roi_layers[0].output_size[0] * head.mask_head.scale_factor
        names.append('masks')
        axes['masks'] = {0: 'batch'}
        description.append(f'masks: (batch, {k}, {size}, {size}) float32 mask probabilities '
                           f'inside each box (paste into the image and threshold at '
                           f'{cfg.mask_thr_binary})')
    return GraphSpec(graph_type(detector), torch.uint8, names, axes, description)
