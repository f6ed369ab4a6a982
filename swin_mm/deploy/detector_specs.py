"""Which detectors export (:mod:`.detector_graphs`) and what their graphs take and return."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .detector_graphs import ATSSGraph, MaskRCNNGraph
from .onnx_export import GraphSpec

__all__ = ['detector_spec', 'SUPPORTED']

#: detector class -> (graph, the type of each of its parts); their heads are checked further
#: by :func:`_check_roi_head`
SUPPORTED = {
    'ATSS': (ATSSGraph, {'bbox_head': 'ATSSHead'}),
    'MaskRCNN': (MaskRCNNGraph, {'rpn_head': 'RPNHead', 'roi_head': 'StandardRoIHead'}),
    'CascadeRCNN': (MaskRCNNGraph, {'rpn_head': 'RPNHead', 'roi_head': 'CascadeRoIHead'}),
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
    heads = [getattr(detector, 'bbox_head', None), getattr(detector, 'rpn_head', None)]
    if hasattr(detector, 'roi_head'):
        heads += _modules(detector.roi_head.bbox_head)
    for head in heads:
        coder = getattr(head, 'bbox_coder', None)
        if coder is not None and (type(coder).__name__ != 'DeltaXYWHBBoxCoder'
                                  or getattr(coder, 'add_ctr_clamp', False)):
            raise ConfigError(f'{type(head).__name__}.bbox_coder {type(coder).__name__}: '
                              f'export supports DeltaXYWHBBoxCoder without add_ctr_clamp')
    head = getattr(detector, 'roi_head', None)
    if head is not None:
        _check_roi_head(head)


def _check_roi_head(head: nn.Module) -> None:
    """Box heads of the shared-FC / conv-FC family, FCN mask heads, average aligned RoIAlign."""
    from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
    from mmdet.models.roi_heads.mask_heads import FCNMaskHead
    if not getattr(head, 'with_mask', False):
        raise ConfigError(f'{type(head).__name__} without a mask head: export supports the '
                          f'mask variants')
    for box_head in _modules(head.bbox_head):
        if not isinstance(box_head, ConvFCBBoxHead) or box_head.custom_activation:
            raise ConfigError(f'box head {type(box_head).__name__}: export supports '
                              f'ConvFCBBoxHead and its subclasses (Shared2FCBBoxHead, ...)')
    for mask_head in _modules(head.mask_head):
        if not isinstance(mask_head, FCNMaskHead) or mask_head.class_agnostic:
            raise ConfigError(f'mask head {type(mask_head).__name__}: export supports '
                              f'FCNMaskHead with a mask per class')
    for extractor in _modules(head.bbox_roi_extractor) + _modules(head.mask_roi_extractor):
        for layer in extractor.roi_layers:
            if not getattr(layer, 'aligned', False) or layer.pool_mode != 'avg':
                raise ConfigError(f'RoI layer {layer}: export supports average RoIAlign '
                                  f'with aligned=True (ONNX RoiAlign, half_pixel)')


def _modules(module) -> list:
    return list(module) if isinstance(module, nn.ModuleList) else [module]


def detector_spec(detector: nn.Module) -> GraphSpec:
    """The graph of an MMDetection detector: ``image`` (B, 3, H, W) uint8 BGR -> ``dets``
    (B, k, 5), ``labels`` (B, k) (and ``masks`` (B, k, 28, 28) for Mask R-CNN)."""
    name = type(detector).__name__
    if name not in SUPPORTED:
        raise ConfigError(f'detector {name}: export supports {", ".join(SUPPORTED)} '
                          f'(--backbone-only exports the backbone of any model)')
    graph_type, parts = SUPPORTED[name]
    _check_parts(detector, parts)
    from mmengine.model import revert_sync_batchnorm
    detector = revert_sync_batchnorm(detector)  # the Swin recipe's SyncBN heads: plain BN
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
    if hasattr(detector, 'roi_head'):
        head = detector.roi_head
        size = (_modules(head.mask_roi_extractor)[0].roi_layers[0].output_size[0]
                * _modules(head.mask_head)[-1].scale_factor)
        names.append('masks')
        axes['masks'] = {0: 'batch'}
        description.append(f'masks: (batch, {k}, {size}, {size}) float32 mask probabilities '
                           f'inside each box (paste into the image and threshold at '
                           f'{cfg.mask_thr_binary})')
    return GraphSpec(graph_type(detector), torch.uint8, names, axes, description)
