"""Swin Transformer modules in plain PyTorch."""
from .attention import WindowAttention
from .layers import DropPath, Mlp, PatchEmbed, PatchMerging
from .swin import ARCH_SETTINGS, SwinBackbone, SwinBlock, SwinStage

__all__ = ['ARCH_SETTINGS', 'DropPath', 'Mlp', 'PatchEmbed', 'PatchMerging', 'SwinBackbone',
           'SwinBlock', 'SwinStage', 'WindowAttention']
