"""Swin Transformer (V1 and V2) modules in plain PyTorch."""
from .attention import WindowAttention, WindowAttentionBase
from .attention_v2 import WindowAttentionV2
from .layers import DropPath, Mlp, PatchEmbed, PatchMerging, PatchMergingV2
from .swin import ARCH_SETTINGS, SwinBackbone, SwinBlock, SwinStage
from .swin_v2 import SwinBlockV2, SwinV2Backbone

__all__ = ['ARCH_SETTINGS', 'DropPath', 'Mlp', 'PatchEmbed', 'PatchMerging', 'PatchMergingV2',
           'SwinBackbone', 'SwinBlock', 'SwinBlockV2', 'SwinStage', 'SwinV2Backbone',
           'WindowAttention', 'WindowAttentionBase', 'WindowAttentionV2']
