"""Post-processing operators that export as ONNX's standard ``NonMaxSuppression`` and
``RoiAlign``, so plain onnxruntime runs a detector with no custom-op library. In PyTorch they
run mmcv's kernels with the same semantics.
"""
from __future__ import annotations

import torch

__all__ = ['non_max_suppression', 'roi_align']


class _NonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (corner boxes): per batch and class, boxes with a score above
    ``score_threshold`` in descending score order, each kept unless its IoU with a kept box
    exceeds ``iou_threshold``; at most ``max_per_class`` per batch and class."""

    @staticmethod
    def forward(ctx, boxes, scores, max_per_class: int, iou_threshold: float,
                score_threshold: float):
        from mmcv.ops import nms
        selected = []
        for b in range(scores.shape[0]):
            for c in range(scores.shape[1]):
                candidates = (scores[b, c] > score_threshold).nonzero().flatten()
                if candidates.numel() == 0:
                    continue
                _, keep = nms(boxes[b, candidates], scores[b, c, candidates], iou_threshold)
                keep = candidates[keep[:max_per_class]]
                selected.append(torch.stack([torch.full_like(keep, b), torch.full_like(keep, c),
                                             keep], 1))
        if not selected:
            return boxes.new_zeros((0, 3), dtype=torch.long)
        return torch.cat(selected)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class: int, iou_threshold: float,
                 score_threshold: float):
        constant = lambda value, dtype: g.op(  # noqa: E731
            'Constant', value_t=torch.tensor([value], dtype=dtype))
        return g.op('NonMaxSuppression', boxes, scores, constant(max_per_class, torch.long),
                    constant(iou_threshold, torch.float), constant(score_threshold, torch.float))


def non_max_suppression(boxes: torch.Tensor, scores: torch.Tensor, max_per_class: int,
                        iou_threshold: float, score_threshold: float) -> torch.Tensor:
    """NMS of every batch and class at once.

    Args:
        boxes: (B, N, 4) float, (x1, y1, x2, y2).
        scores: (B, C, N) float.
    Returns:
        (K, 3) int64 rows (batch, class, box index).
    """
    return _NonMaxSuppression.apply(boxes, scores, int(max_per_class), float(iou_threshold),
                                    float(score_threshold))


class _RoiAlign(torch.autograd.Function):
    """Average RoIAlign with half-pixel alignment (mmcv's ``aligned=True``, ONNX opset 16's
    ``coordinate_transformation_mode='half_pixel'``)."""

    @staticmethod
    def forward(ctx, features, rois, output_size: int, spatial_scale: float,
                sampling_ratio: int):
        from mmcv.ops import roi_align as mmcv_roi_align
        return mmcv_roi_align(features, rois, (output_size, output_size), spatial_scale,
                              sampling_ratio, 'avg', True)

    @staticmethod
    def symbolic(g, features, rois, output_size: int, spatial_scale: float,
                 sampling_ratio: int):
        indices = g.op('Cast', g.op('Gather', rois, g.op(
            'Constant', value_t=torch.tensor(0, dtype=torch.long)), axis_i=1),
            to_i=7)  # INT64
        boxes = g.op('Slice', rois, g.op('Constant', value_t=torch.tensor([1])),
                     g.op('Constant', value_t=torch.tensor([5])),
                     g.op('Constant', value_t=torch.tensor([1])))
        return g.op('RoiAlign', features, boxes, indices, mode_s='avg',
                    output_height_i=output_size, output_width_i=output_size,
                    sampling_ratio_i=sampling_ratio, spatial_scale_f=spatial_scale,
                    coordinate_transformation_mode_s='half_pixel')


def roi_align(features: torch.Tensor, rois: torch.Tensor, output_size: int,
              spatial_scale: float, sampling_ratio: int = 0) -> torch.Tensor:
    """Average RoIAlign, half-pixel aligned.

    Args:
        features: (B, C, H, W).
        rois: (R, 5) float rows (batch index, x1, y1, x2, y2) in input pixels.
        spatial_scale: feature pixels per input pixel (1 / stride).
        sampling_ratio: samples per bin side; 0: adaptive (ceil(roi size / output size)).
    Returns:
        (R, C, output_size, output_size).
    """
    return _RoiAlign.apply(features, rois, int(output_size), float(spatial_scale),
                           int(sampling_ratio))
