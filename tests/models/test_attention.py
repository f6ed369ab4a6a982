"""WindowAttention while training on CPU: what it keeps for backward."""
import torch

from swin_mm.models.attention import WindowAttention


def test_training_keeps_input_qkv_and_output_once_and_nothing_n_by_n():
    """The recomputing attention saves its output, which the projection saves anyway: one
    storage for both, so the attention adds only qkv (and the small bias) to what the linear
    layers keep."""
    attn = WindowAttention(16, 2, 3).train()
    x = torch.randn(10, 9, 16, requires_grad=True)  # 10 windows of 3x3 tokens
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        attn(x)
    params = {p.untyped_storage().data_ptr() for p in attn.parameters()}
    sizes = sorted(n for ptr, n in saved.items() if ptr not in params)
    f32, tokens = 4, 10 * 9
    expected = [tokens * 16 * f32,  # x (the qkv projection's input)
                tokens * 16 * f32,  # the attention output (the projection's input)
                tokens * 48 * f32,  # qkv
                2 * 9 * 9 * f32,  # relative-position bias, (h, N, N)
                9 * 9 * 8]  # its int64 index into the table
    assert sizes == sorted(expected)
