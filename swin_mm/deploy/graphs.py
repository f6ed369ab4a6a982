"""The modules that are exported: what each ONNX graph takes and returns.

- :class:`BackboneGraph`: (B, 3, H, W) float32 -> the backbone's feature maps.
- :class:`SegmentorGraph`: (B, 3, H, W) uint8 BGR, the image as the test pipeline loads it ->
  the per-pixel logits (B, K, H, W) and the label map (B, H, W) int64.
- Detectors: :mod:`.detector_graphs`.

Every graph starts with :class:`Preprocess`, the model's data preprocessor (BGR -> RGB, mean/std,
zero padding to its size divisor) in the graph, so a deployed model takes raw images.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['Preprocess', 'BackboneGraph', 'SegmentorGraph']


class Preprocess(nn.Module):
    """An MMEngine image data preprocessor as graph operations.

    Args:
        data_preprocessor: ``ImgDataPreprocessor`` (MMDetection's) or ``SegDataPreProcessor``.
    """

    def __init__(self, data_preprocessor: nn.Module) -> None:
        super().__init__()
        dp = data_preprocessor
        self.normalize = bool(getattr(dp, '_enable_normalize', False))
        self.register_buffer('mean', dp.mean.detach().float().clone() if self.normalize else None)
        self.register_buffer('std', dp.std.detach().float().clone() if self.normalize else None)
        self.bgr_to_rgb = bool(getattr(dp, '_channel_conversion',
                                       getattr(dp, 'channel_conversion', False)))
        self.size_divisor = int(getattr(dp, 'pad_size_divisor', 1) or 1)
        self.pad_value = float(getattr(dp, 'pad_value', 0))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) uint8 or float, BGR -> (B, 3, Hp, Wp) float32 as the model takes it,
        Hp, Wp rounded up to the size divisor."""
        x = image.float()
        if self.bgr_to_rgb:
            x = x.flip(1)
        if self.normalize:
            x = (x - self.mean) / self.std
        if self.size_divisor > 1:
            d = self.size_divisor
            H, W = x.shape[2], x.shape[3]
            x = F.pad(x, (0, (W + d - 1) // d * d - W, 0, (H + d - 1) // d * d - H),
                      value=self.pad_value)
        return x


class BackboneGraph(nn.Module):
    """The backbone alone: (B, 3, H, W) float32 -> its feature maps, NCHW."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(self.backbone(image))


class SegmentorGraph(nn.Module):
    """An MMSegmentation ``EncoderDecoder`` at test time, whole-image inference.

    Returns logits (B, K, H, W) resized to the input size as MMSegmentation's ``predict`` does
    (bilinear, the decode head's ``align_corners``) and their argmax (B, H, W) int64.
    """

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        self.preprocess = Preprocess(segmentor.data_preprocessor)
        self.segmentor = segmentor

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.preprocess(image)
        model = self.segmentor
        logits = model.decode_head(model.extract_feat(x))
        logits = F.interpolate(logits, size=image.shape[2:], mode='bilinear',
                               align_corners=model.align_corners)
        return logits, logits.argmax(1)
