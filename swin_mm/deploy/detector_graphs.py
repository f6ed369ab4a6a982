"""Detectors as exportable graphs: image in, final detections out, post-processing inside.

Outputs, as mmdeploy's end-to-end detectors give them, a fixed ``k = max_per_img`` rows per
image (rows past the detections are zeros):
``dets`` (B, k, 5) float32 (x1, y1, x2, y2, score) in input-image pixels, ``labels`` (B, k)
int64, and for Mask R-CNN ``masks`` (B, k, M, M) float32 probabilities in each box (M: the mask
head's size, 28), pasted into the image outside the graph as MMDetection pastes them.

The post-processing is MMDetection's test-time rule written with static shapes: per level the
top ``nms_pre`` candidates (score above ``score_thr`` first where the head has one), boxes
decoded and clipped to the image, boxes of zero width or height dropped, class-wise NMS
(:func:`~.onnx_ops.non_max_suppression`, ONNX's operator), the top ``max_per_img``. A score of 0
marks an empty slot throughout, which keeps every shape static for any image size.
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .graphs import Preprocess
from .onnx_ops import non_max_suppression, roi_align

__all__ = ['ATSSGraph', 'MaskRCNNGraph', 'grid_anchors', 'decode_deltas', 'top_k', 'nms_top_k']

#: ONNX NonMaxSuppression keeps at most this many boxes per class: no limit in practice
_NO_LIMIT = 1 << 30


def grid_anchors(base_anchors: torch.Tensor, stride: Tuple[int, int], height, width
                 ) -> torch.Tensor:
    """MMDetection's ``AnchorGenerator.single_level_grid_priors`` from traced sizes.

    Args:
        base_anchors: (A, 4) anchors around the origin.
        stride: (sx, sy) pixels.
        height, width: feature-map size (ints or traced 0-d tensors).
    Returns:
        (height * width * A, 4), row-major over the map, anchors innermost.
    """
    sx = torch.arange(width, device=base_anchors.device).to(base_anchors.dtype) * stride[0]
    sy = torch.arange(height, device=base_anchors.device).to(base_anchors.dtype) * stride[1]
    xx = sx[None, :] + torch.zeros_like(sy)[:, None]  # H, W
    yy = sy[:, None] + torch.zeros_like(sx)[None, :]
    shifts = torch.stack([xx, yy, xx, yy], -1).reshape(-1, 1, 4)
    return (shifts + base_anchors[None]).reshape(-1, 4)


def decode_deltas(priors: torch.Tensor, deltas: torch.Tensor, coder, image_hw: torch.Tensor
                  ) -> torch.Tensor:
    """``DeltaXYWHBBoxCoder.decode`` (clipped to the image) with broadcasting leading dims.

    Args:
        priors: (..., 4) boxes (x1, y1, x2, y2); deltas: (..., 4) broadcastable to them.
        coder: the head's ``DeltaXYWHBBoxCoder`` (its means, stds, clip_border).
        image_hw: (2,) float, the image (height, width) before padding.
    """
    deltas = deltas * deltas.new_tensor(coder.stds) + deltas.new_tensor(coder.means)
    max_ratio = abs(math.log(16 / 1000))
    pxy = (priors[..., :2] + priors[..., 2:]) * 0.5
    pwh = priors[..., 2:] - priors[..., :2]
    gxy = pxy + pwh * deltas[..., :2]
    gwh = pwh * deltas[..., 2:].clamp(min=-max_ratio, max=max_ratio).exp()
    boxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], -1)
    if coder.clip_border:
        limit = image_hw.flip(0).repeat(2).to(boxes.dtype)  # W, H, W, H
        boxes = torch.minimum(boxes.clamp(min=0), limit)
    return boxes


def top_k(scores: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` highest of (B, N) non-negative scores for any N (also N < k): zeros are
    appended so that k exists; their indices read as 0 (a valid row) with score 0."""
    padded = F.pad(scores, (0, k))
    values, indices = padded.topk(k, dim=1)
    return values, torch.where(values > 0, indices, torch.zeros_like(indices))


def _gather_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, N, D), index (B, K) -> (B, K, D)."""
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))


def nms_top_k(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, k: int
              ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class-wise NMS, then the top ``k`` of each image (MMDetection's ``batched_nms`` and
    ``max_per_img``).

    Args:
        boxes: (B, N, 4) shared by the classes, or (B, C, N, 4) one per class.
        scores: (B, C, N), 0 where a box is not a candidate of a class.
    Returns:
        boxes (B, k, 4), scores (B, k) (0: empty slot), labels (B, k) int64.
    """
    B, C, N = scores.shape[0], scores.shape[1], scores.shape[2]
    if boxes.dim() == 4:  # one NMS batch per (image, class): ONNX NMS shares boxes per batch
        selected = non_max_suppression(boxes.reshape(-1, N, 4), scores.reshape(-1, 1, N),
                                       _NO_LIMIT, iou_threshold, 0.0)
        b, c, n = selected[:, 0] // C, selected[:, 0] % C, selected[:, 2]
    else:
        selected = non_max_suppression(boxes, scores, _NO_LIMIT, iou_threshold, 0.0)
        b, c, n = selected[:, 0], selected[:, 1], selected[:, 2]
    kept = torch.zeros_like(scores)
    kept[b, c, n] = scores[b, c, n]
    values, index = top_k(kept.reshape(B, -1), k)
    labels, n = index // N, index % N
    if boxes.dim() == 4:
        boxes = _gather_rows(boxes.reshape(B, -1, 4), index)
    else:
        boxes = _gather_rows(boxes, n)
    return boxes, values, labels


def _level_candidates(scores: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor,
                                                             torch.Tensor]:
    """Top ``k`` (anchor, class) pairs of one level. scores (B, N, C) -> scores (B, k), anchor
    index (B, k), class (B, k)."""
    C = scores.shape[2]
    values, index = top_k(scores.reshape(scores.shape[0], -1), k)
    return values, index // C, index % C


def _nonempty(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) -> (...) bool: width and height > 0 (MMDetection's ``min_bbox_size=0``)."""
    return (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])


def _flatten_level(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, A * channels, H, W) head output -> (B, H * W * A, channels)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, channels)


class _DetectorGraph(nn.Module):
    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.preprocess = Preprocess(detector.data_preprocessor)
        self.detector = detector

    def features(self, image: torch.Tensor) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """Neck outputs and the image (height, width) as a float tensor."""
        image_hw = torch._shape_as_tensor(image)[2:].float()  # traced as the graph's Shape
        return list(self.detector.extract_feat(self.preprocess(image))), image_hw


class ATSSGraph(_DetectorGraph):
    """MMDetection's ``ATSS`` (``ATSSHead``, sigmoid classes, centerness): ``image`` (B, 3, H,
    W) uint8 BGR -> ``dets`` (B, k, 5), ``labels`` (B, k)."""

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        feats, image_hw = self.features(image)
        head = self.detector.bbox_head
        cfg = head.test_cfg
        cls_scores, bbox_preds, centernesses = head(feats)
        all_scores, all_boxes, all_labels = [], [], []
        for level, (cls, reg, ctr) in enumerate(zip(cls_scores, bbox_preds, centernesses)):
            anchors = grid_anchors(head.prior_generator.base_anchors[level].to(cls),
                                   head.prior_generator.strides[level], cls.shape[2],
                                   cls.shape[3])
            scores = _flatten_level(cls, head.cls_out_channels).sigmoid()
            scores = torch.where(scores > cfg.score_thr, scores, torch.zeros_like(scores))
            scores, anchor, labels = _level_candidates(scores, cfg.nms_pre)
            deltas = _gather_rows(_flatten_level(reg, 4), anchor)
            boxes = decode_deltas(anchors[anchor], deltas, head.bbox_coder, image_hw)
            factor = _gather_rows(_flatten_level(ctr, 1), anchor)[..., 0].sigmoid()
            all_scores.append(scores * factor * _nonempty(boxes))
            all_boxes.append(boxes)
            all_labels.append(labels)
        scores, labels = torch.cat(all_scores, 1), torch.cat(all_labels, 1)
        classes = torch.arange(head.cls_out_channels, device=scores.device)
        by_class = scores[:, None, :] * (labels[:, None, :] == classes[None, :, None])
        boxes, scores, labels = nms_top_k(torch.cat(all_boxes, 1), by_class,
                                          cfg.nms.iou_threshold, cfg.max_per_img)
        return torch.cat([boxes, scores[..., None]], -1), labels


def _multi_level_roi_align(extractor: nn.Module, feats: Sequence[torch.Tensor],
                           rois: torch.Tensor) -> torch.Tensor:
    """MMDetection's ``SingleRoIExtractor``: each RoI pooled from the level its scale maps to
    (every level is pooled and the RoI's own selected, so no shape depends on the data).

    Args:
        rois: (R, 5) (batch index, x1, y1, x2, y2).
    Returns:
        (R, C, S, S).
    """
    num_levels = len(extractor.featmap_strides)
    scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
    level = torch.floor(torch.log2(scale / extractor.finest_scale + 1e-6))
    level = level.clamp(min=0, max=num_levels - 1)
    out = None
    for i, (layer, feat) in enumerate(zip(extractor.roi_layers, feats[:num_levels])):
        pooled = roi_align(feat, rois, layer.output_size[0], layer.spatial_scale,
                           layer.sampling_ratio)
        pooled = pooled * (level == i).to(pooled.dtype)[:, None, None, None]
        out = pooled if out is None else out + pooled
    return out


def _rois(boxes: torch.Tensor) -> torch.Tensor:
    """(B, K, 4) -> (B * K, 5) rows (batch index, x1, y1, x2, y2)."""
    batch = torch.arange(boxes.shape[0], device=boxes.device).to(boxes.dtype)
    batch = batch[:, None, None] + torch.zeros_like(boxes[..., :1])
    return torch.cat([batch, boxes], -1).reshape(-1, 5)


def _stages(modules) -> List[nn.Module]:
    """A cascade's per-stage modules (a ModuleList), or a single stage's module, as a list."""
    return list(modules) if isinstance(modules, nn.ModuleList) else [modules]


class MaskRCNNGraph(_DetectorGraph):
    """MMDetection's ``MaskRCNN`` and ``CascadeRCNN`` with masks (RPN; ``StandardRoIHead`` or
    ``CascadeRoIHead`` with shared-FC / conv-FC box heads and FCN mask heads): ``image``
    (B, 3, H, W) uint8 BGR -> ``dets`` (B, k, 5), ``labels`` (B, k), ``masks`` (B, k, 28, 28).

    A cascade refines the RoIs stage by stage with each stage's top class, averages the stages'
    class logits, decodes with the last stage, and averages the stages' mask probabilities, as
    ``CascadeRoIHead.predict`` does.
    """

    def proposals(self, feats: List[torch.Tensor], image_hw: torch.Tensor
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
        """RPN: (B, P, 4) proposals and (B, P) scores (0: empty slot)."""
        head = self.detector.rpn_head
        cfg = self.detector.test_cfg.rpn
        cls_scores, bbox_preds = head(feats)
        all_scores, all_boxes = [], []
        for level, (cls, reg) in enumerate(zip(cls_scores, bbox_preds)):
            anchors = grid_anchors(head.prior_generator.base_anchors[level].to(cls),
                                   head.prior_generator.strides[level], cls.shape[2],
                                   cls.shape[3])
            scores = _flatten_level(cls, 1)[..., 0].sigmoid()
            scores, anchor = top_k(scores, cfg.nms_pre)
            deltas = _gather_rows(_flatten_level(reg, 4), anchor)
            boxes = decode_deltas(anchors[anchor], deltas, head.bbox_coder, image_hw)
            all_scores.append(scores * _nonempty(boxes))
            all_boxes.append(boxes)
        # NMS within each level (MMDetection's RPN passes the level as the class)
        scores = torch.cat(all_scores, 1)
        levels = torch.cat([torch.full_like(s, i, dtype=torch.long)
                            for i, s in enumerate(all_scores)], 1)
        by_level = scores[:, None, :] * (
            levels[:, None, :] == torch.arange(len(all_scores))[None, :, None])
        boxes, scores, _ = nms_top_k(torch.cat(all_boxes, 1), by_level,
                                     cfg.nms.iou_threshold, cfg.max_per_img)
        return boxes, scores

    def refine(self, feats: List[torch.Tensor], image_hw: torch.Tensor, boxes: torch.Tensor
               ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every box stage on (B, P, 4) RoIs: (class logits averaged over the stages (B, P, C+1),
        the last stage's box regression (B, P, 4 or 4C), the last stage's RoIs (B, P, 4))."""
        roi_head = self.detector.roi_head
        extractors, heads = _stages(roi_head.bbox_roi_extractor), _stages(roi_head.bbox_head)
        B, P = boxes.shape[0], boxes.shape[1]
        logits = 0
        for stage, (extractor, head) in enumerate(zip(extractors, heads)):
            cls_score, bbox_pred = head(_multi_level_roi_align(extractor, feats, _rois(boxes)))
            logits = logits + cls_score
            if stage < len(heads) - 1:  # regress each RoI by its top class, for the next stage
                deltas = bbox_pred.reshape(B * P, -1, 4)
                if not head.reg_class_agnostic:
                    label = cls_score[:, :-1].argmax(1)
                    deltas = deltas.gather(1, label[:, None, None].expand(-1, 1, 4))
                boxes = decode_deltas(boxes, deltas.reshape(B, P, 4), head.bbox_coder, image_hw)
        return (logits / len(heads)).reshape(B, P, -1), bbox_pred.reshape(B, P, -1), boxes

    def masks(self, feats: List[torch.Tensor], boxes: torch.Tensor, labels: torch.Tensor
              ) -> torch.Tensor:
        """(B, k, M, M) probabilities of each box's class, averaged over the mask stages."""
        roi_head = self.detector.roi_head
        rois, index, probabilities = _rois(boxes), None, 0
        extractors, heads = _stages(roi_head.mask_roi_extractor), _stages(roi_head.mask_head)
        for extractor, head in zip(extractors, heads):
            logits = head(_multi_level_roi_align(extractor, feats, rois))
            if index is None:
                index = labels.reshape(-1, 1, 1, 1).expand(-1, 1, *logits.shape[2:])
            probabilities = probabilities + logits.gather(1, index).sigmoid()
        return (probabilities / len(heads)).reshape(*boxes.shape[:2], *index.shape[2:])

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats, image_hw = self.features(image)
        proposals, valid = self.proposals(feats, image_hw)
        cfg, head = self.detector.test_cfg.rcnn, _stages(self.detector.roi_head.bbox_head)[-1]
        logits, bbox_pred, rois = self.refine(feats, image_hw, proposals)
        C = head.num_classes
        scores = F.softmax(logits, -1)[..., :C] * (valid > 0)[..., None]
        scores = torch.where(scores > cfg.score_thr, scores, torch.zeros_like(scores))
        deltas = bbox_pred.reshape(*bbox_pred.shape[:2], -1, 4)  # B, P, 1 or C, 4
        boxes = decode_deltas(rois[:, :, None, :], deltas, head.bbox_coder, image_hw)
        boxes = boxes.expand(-1, -1, C, -1)  # class-agnostic: the same box for every class
        boxes, scores, labels = nms_top_k(boxes.transpose(1, 2), scores.transpose(1, 2),
                                          cfg.nms.iou_threshold, cfg.max_per_img)
        return (torch.cat([boxes, scores[..., None]], -1), labels,
                self.masks(feats, boxes, labels))
