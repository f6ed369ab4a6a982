"""Run a detector or segmentor with a Swin backbone on one image and keep what the pictures need:
the network's input image, the backbone's outputs, every block's input, the predictions, and the
gradient of a chosen score at a chosen output (for Grad-CAM)."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch

from ..errors import ConfigError

__all__ = ['Inspection', 'swin_backbone', 'inspect', 'score_gradient', 'box_score',
           'check_box_index',
           'class_pixels_score', 'input_image']


@dataclass
class Inspection:
    """What one test-mode forward showed.

    Attributes:
        inputs: (1, 3, Hin, Win) the preprocessed (normalised, padded) network input.
        outputs: the backbone's outputs, (1, C_i, H_i, W_i) each, in ``out_indices`` order.
        block_inputs: {(stage, block): (1, H, W, C)} the input of every Swin block.
        result: the model's prediction for the image (a DetDataSample or SegDataSample).
    """
    inputs: torch.Tensor
    outputs: Tuple[torch.Tensor, ...]
    block_inputs: Dict[Tuple[int, int], torch.Tensor] = field(default_factory=dict)
    result: Optional[object] = None


def swin_backbone(model):
    """The model's SwinBackbone; ConfigError naming what it has otherwise."""
    from ..models.swin import SwinBackbone
    backbone = getattr(model, 'backbone', None)
    if not isinstance(backbone, SwinBackbone):
        raise ConfigError(f'the model has no Swin backbone (model.backbone is '
                          f'{type(backbone).__name__}); tools/visualize.py draws SwinBackbone '
                          f'models')
    return backbone


@contextmanager
def _hooks(modules_and_hooks):
    handles = [m.register_forward_hook(h) for m, h in modules_and_hooks]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def inspect(model, data: dict) -> Inspection:
    """One ``test_step`` of ``model`` on ``data`` (one image, as a test pipeline packs it), with
    the inputs and outputs of the backbone and its blocks recorded."""
    backbone = swin_backbone(model)
    seen: dict = {'blocks': {}}

    def on_backbone(module, args, output):
        seen['inputs'], seen['outputs'] = args[0].detach(), tuple(o.detach() for o in output)

    def on_block(key):
        def hook(module, args, output):
            seen['blocks'][key] = args[0].detach()
        return hook

    hooks = [(backbone, on_backbone)]
    for s, stage in enumerate(backbone.layers):
        hooks += [(block, on_block((s, b))) for b, block in enumerate(stage.blocks)]
    with torch.no_grad(), _hooks(hooks):
        result = model.test_step(data)[0]
    return Inspection(seen['inputs'], seen['outputs'], seen['blocks'], result)


def score_gradient(model, data: dict, output: int, score: Callable[[object], torch.Tensor]
                   ) -> Tuple[torch.Tensor, torch.Tensor, object]:
    """Backbone output ``output`` (position in ``out_indices``) and the gradient there of
    ``score(result)``, a scalar of the model's prediction: ((C, H, W), (C, H, W), result)."""
    backbone = swin_backbone(model)
    kept: List[torch.Tensor] = []

    def on_backbone(module, args, outputs):
        outputs[output].retain_grad()
        kept.append(outputs[output])

    with torch.enable_grad(), _dense_heads_keep_the_graph(), _hooks([(backbone, on_backbone)]):
        result = model.test_step(data)[0]
        target = score(result)
        if not target.requires_grad:
            raise RuntimeError('the chosen score does not depend on the backbone (no gradient)')
        target.backward()
    feature = kept[0]
    return feature.detach()[0], feature.grad[0], result


@contextmanager
def _dense_heads_keep_the_graph():
    """MMDetection's one-stage heads detach their score maps before post-processing; let them
    keep the graph while a score is differentiated (two-stage heads keep it anyway)."""
    try:
        from mmdet.models.dense_heads import base_dense_head
    except ImportError:
        yield
        return
    select = base_dense_head.select_single_mlvl

    def attached(mlvl_tensors, batch_id, detach=True):
        return select(mlvl_tensors, batch_id, detach=False)

    base_dense_head.select_single_mlvl = attached
    try:
        yield
    finally:
        base_dense_head.select_single_mlvl = select


def box_score(index: int) -> Callable[[object], torch.Tensor]:
    """The score of predicted box ``index`` of a detector's result (IndexError naming the range
    when there is no such box)."""
    def score(result):
        scores = result.pred_instances.scores
        check_box_index(index, len(scores))
        return scores[index]
    return score


def check_box_index(index: int, count: int) -> None:
    """IndexError naming the valid range when a detector predicted no box ``index``."""
    if not 0 <= index < count:
        raise IndexError(f'--target-box {index}: the detector predicted {count} boxes '
                         f'(valid: 0..{count - 1}, in decreasing score order)')


def class_pixels_score(cls: int) -> Callable[[object], torch.Tensor]:
    """The summed logit of class ``cls`` over the pixels a segmentor assigns to it (over all
    pixels when it assigns none)."""
    def score(result):
        logits = result.seg_logits.data  # C, H, W
        if not 0 <= cls < logits.shape[0]:
            raise IndexError(f'--target-class {cls}: the model has {logits.shape[0]} classes '
                             f'(valid: 0..{logits.shape[0] - 1})')
        chosen = result.pred_sem_seg.data[0] == cls
        return logits[cls][chosen].sum() if chosen.any() else logits[cls].sum()
    return score


def input_image(model, data: dict) -> torch.Tensor:
    """(Hin, Win, 3) uint8 RGB: the image as the network sees it (resized, not normalised),
    padded as the data preprocessor pads it."""
    image = data['inputs'][0]  # 3, H, W as the pipeline packed it
    if getattr(model.data_preprocessor, '_channel_conversion', False):
        image = image[[2, 1, 0]]  # the pipeline loads BGR; the preprocessor flips it
    return image.permute(1, 2, 0).contiguous()
