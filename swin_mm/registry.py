"""The one registration OpenMMLab sees.

``SwinBackbone`` and ``SwinV2Backbone`` go into MMEngine's root ``MODELS`` registry.
MMDetection's and MMSegmentation's ``MODELS`` registries have it as their parent and fall back to
it on lookup, so ``type='SwinBackbone'`` (or ``'SwinV2Backbone'``) builds from either without
importing them here. swin_mm's hooks go into MMEngine's root ``HOOKS`` likewise. Without MMEngine
installed this does nothing: the backbone is plain PyTorch.
"""
from __future__ import annotations

from .models.swin import SwinBackbone
from .models.swin_v2 import SwinV2Backbone

__all__ = ['BACKBONES', 'register_all']

#: the backbones swin_mm registers, by their config type
BACKBONES = {'SwinBackbone': SwinBackbone, 'SwinV2Backbone': SwinV2Backbone}


def register_all() -> bool:
    """Register ``SwinBackbone``, ``SwinV2Backbone`` and the hooks in MMEngine's root registries;
    False without MMEngine."""
    try:
        from mmengine.registry import MODELS
    except ImportError:
        return False
    for name, cls in BACKBONES.items():
        if MODELS.get(name) is not cls:
            MODELS.register_module(name=name, module=cls, force=True)
    from .engine import guards, hooks  # noqa: F401  (register swin_mm's hooks and wrappers)
    return True
