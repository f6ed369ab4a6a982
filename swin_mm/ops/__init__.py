"""Parameter-free tensor operations."""
from .window import (pad_to_multiple, relative_position_index, to_2tuple, window_attention_mask,
                     window_partition, window_reverse)

__all__ = ['pad_to_multiple', 'relative_position_index', 'to_2tuple', 'window_attention_mask',
           'window_partition', 'window_reverse']
