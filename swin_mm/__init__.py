"""swin_mm: a Swin Transformer backbone for MMDetection 3.x and MMSegmentation 1.x.

``import swin_mm`` (or ``custom_imports=dict(imports=['swin_mm'])`` in a config) registers
``SwinBackbone``; it imports neither mmdet nor mmseg.
"""
from .errors import ConfigError
from .models.swin import ARCH_SETTINGS, SwinBackbone
from .registry import register_all

__version__ = '0.1.0'
__all__ = ['ARCH_SETTINGS', 'ConfigError', 'SwinBackbone', '__version__']

register_all()
