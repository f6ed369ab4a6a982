"""Reference Swin implementations of MMDetection 3.3 and MMSegmentation 1.2, with weights mapped
from swin_mm's by MMDetection's own converter (independent of swin_mm's)."""
import torch


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| over the whole tensor."""
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def mmdet_swin(**kwargs):
    from mmdet.models.backbones import SwinTransformer
    return SwinTransformer(**kwargs)


def mmseg_swin(**kwargs):
    from mmseg.models.backbones import SwinTransformer
    return SwinTransformer(**kwargs)


def load_official_into_openmmlab(reference, official_sd):
    """Load swin_mm (official-format) weights into an OpenMMLab Swin through mmdet's converter."""
    from mmdet.models.backbones.swin import swin_converter
    converted = {k[len('backbone.'):]: v for k, v in swin_converter(official_sd).items()}
    result = reference.load_state_dict(converted, strict=False)
    assert all(k.endswith('relative_position_index') for k in result.missing_keys), result
    assert not result.unexpected_keys, result
    return reference


def to_mmpretrain_layout(sd):
    """An MMDetection Swin state dict in MMPretrain's layout: patch merging at the start of stage
    i+1 instead of the end of stage i."""
    out = {}
    for k, v in sd.items():
        if k.startswith('stages.') and '.downsample.' in k:
            i = int(k.split('.')[1])
            k = k.replace(f'stages.{i}.', f'stages.{i + 1}.', 1)
        out[k] = v
    return out
