"""swin_mm.profiling.forward_seconds_without: the ops taken out do not run, the rest does."""
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from swin_mm import SwinBackbone
from swin_mm.profiling import ABLATABLE, forward_seconds_without

_ORIGINALS = F.scaled_dot_product_attention, F.layer_norm


class _CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def _ops_run(model, x, taken_out):
    with _CountOps() as counter:
        seconds = forward_seconds_without(model, x, taken_out, repeats=1)
    assert seconds > 0
    return counter.ops


def test_taken_out_ops_do_not_run_and_the_rest_does():
    model = SwinBackbone('tiny', depths=(2, 2, 2, 2)).eval()
    x = torch.randn(1, 3, 90, 120)  # padded windows, shifted blocks with masks
    ops = _ops_run(model, x, ())
    attention = {name for name in ops if 'scaled_dot_product' in name}
    assert attention and ops['native_layer_norm'] > 0
    ops = _ops_run(model, x, ('attention',))
    assert not attention & set(ops) and ops['native_layer_norm'] > 0
    ops = _ops_run(model, x, ('attention', 'layernorm'))
    assert not attention & set(ops) and ops['native_layer_norm'] == 0
    assert any('linear' in name or name in ('addmm', 'mm') for name in ops)  # products still run
    assert (F.scaled_dot_product_attention, F.layer_norm) == _ORIGINALS  # put back


def test_free_attention_has_the_kernels_shape_and_layout():
    stand_in = ABLATABLE['attention'][1]()
    q = torch.randn(5, 3, 49, 32)
    out = stand_in(q, q, q, attn_mask=None)
    assert out.shape == q.shape and not out.any()
    assert out.transpose(1, 2).is_contiguous()  # heads merge without a copy, as after the kernel
    assert stand_in(q, q, q) is out  # made once per shape


def test_unknown_op_is_refused():
    with pytest.raises(ValueError, match="'softmax'.*expected"):
        forward_seconds_without(torch.nn.Identity(), torch.zeros(1), ('softmax',))
