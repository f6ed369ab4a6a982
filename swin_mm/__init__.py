"""swin_mm: a Swin Transformer backbone for MMDetection 3.x and MMSegmentation 1.x.

``import swin_mm`` (or ``custom_imports=dict(imports=['swin_mm'])`` in a config) registers
``SwinBackbone`` and ``SwinV2Backbone``; it imports neither mmdet nor mmseg.
"""
from .errors import ConfigError
from .models.swin import ARCH_SETTINGS, SwinBackbone
from .models.swin_v2 import SwinV2Backbone
from .registry import register_all

__version__ = '0.1.0'
__all__ = ['ARCH_SETTINGS', 'ConfigError', 'SwinBackbone', 'SwinV2Backbone', '__version__']

register_all()
