"""Parameter-free tensor operations shared by the reference model and the fast paths."""
from .window import (attention_bias, pad_to_multiple, relative_position_index,
                     reverse_and_unshift, shift_and_partition, to_2tuple, window_attention_mask,
                     window_partition, window_reverse)

__all__ = ['attention_bias', 'pad_to_multiple', 'relative_position_index', 'reverse_and_unshift',
           'shift_and_partition', 'to_2tuple', 'window_attention_mask', 'window_partition',
           'window_reverse']
