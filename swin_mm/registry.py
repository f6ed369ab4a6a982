"""The one registration OpenMMLab sees.

``SwinBackbone`` goes into MMEngine's root ``MODELS`` registry. MMDetection's and MMSegmentation's
``MODELS`` registries have it as their parent and fall back to it on lookup, so
``type='SwinBackbone'`` builds from either without importing them here. swin_mm's hooks go into
MMEngine's root ``HOOKS`` likewise. Without MMEngine installed this does nothing: the backbone is
plain PyTorch.
"""
from __future__ import annotations

from .models.swin import SwinBackbone

__all__ = ['register_all']


def register_all() -> bool:
    """Register ``SwinBackbone`` and the hooks in MMEngine's root registries; False without
    MMEngine."""
    try:
        from mmengine.registry import MODELS
    except ImportError:
        return False
    if MODELS.get('SwinBackbone') is not SwinBackbone:
        MODELS.register_module(name='SwinBackbone', module=SwinBackbone, force=True)
    from .engine import guards, hooks  # noqa: F401  (register swin_mm's hooks and wrappers)
    return True
