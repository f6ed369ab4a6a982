"""A Swin block written straight from the paper, one window and one head at a time.

Independent of swin_mm's window helpers: explicit zero padding, torch.roll, a loop over windows,
relative-position bias gathered pair by pair from the (2M-1)^2 table, the -100 region mask computed
from coordinates, softmax, reverse roll. Slow; for small inputs in tests only.
"""
import torch
import torch.nn.functional as F


def _region(pos: int, length: int, window: int, shift: int) -> int:
    """Region of a position of the shifted padded axis: the last window splits at ``-shift``."""
    if shift == 0 or pos < length - window:
        return 0
    return 1 if pos < length - shift else 2


def naive_block(block, x: torch.Tensor) -> torch.Tensor:
    """Apply ``block``'s weights to x (B, H, W, C) the slow way; ``block.mask_padding`` excludes
    padded keys from the softmax entirely."""
    B, H, W, C = x.shape
    wh, ww = block.window_size
    sh, sw = block.shift_size
    heads = block.attn.num_heads
    d = C // heads
    Hp, Wp = -(-H // wh) * wh, -(-W // ww) * ww
    y = F.layer_norm(x, (C,), block.norm1.weight, block.norm1.bias, block.norm1.eps)
    padded = torch.zeros(B, Hp, Wp, C, dtype=x.dtype)
    padded[:, :H, :W] = y
    is_real = torch.zeros(Hp, Wp, dtype=torch.bool)
    is_real[:H, :W] = True
    shifted = torch.roll(padded, shifts=(-sh, -sw), dims=(1, 2))
    real_shifted = torch.roll(is_real, shifts=(-sh, -sw), dims=(0, 1))
    table = block.attn.relative_position_bias_table
    wq, bq = block.attn.qkv.weight, block.attn.qkv.bias
    out = torch.zeros_like(shifted)
    for r0 in range(0, Hp, wh):
        for c0 in range(0, Wp, ww):
            pos = [(r, c) for r in range(r0, r0 + wh) for c in range(c0, c0 + ww)]
            tokens = torch.stack([shifted[:, r, c] for r, c in pos], 1)  # B, N, C
            qkv = tokens @ wq.T + (bq if bq is not None else 0)
            q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
            heads_out = []
            for h in range(heads):
                qh, kh, vh = (t[..., h * d:(h + 1) * d] for t in (q, k, v))
                logits = (qh @ kh.transpose(1, 2)) * block.attn.scale  # B, N, N
                bias = torch.zeros(len(pos), len(pos))
                keep = torch.ones(len(pos), len(pos), dtype=torch.bool)
                for i, (ri, ci) in enumerate(pos):
                    for j, (rj, cj) in enumerate(pos):
                        idx = (ri - rj + wh - 1) * (2 * ww - 1) + (ci - cj + ww - 1)
                        bias[i, j] = table[idx, h]
                        if (_region(ri, Hp, wh, sh), _region(ci, Wp, ww, sw)) != \
                                (_region(rj, Hp, wh, sh), _region(cj, Wp, ww, sw)):
                            bias[i, j] += -100.0
                        if block.mask_padding and not real_shifted[rj, cj]:
                            keep[i, j] = False
                logits = (logits + bias).masked_fill(~keep, float('-inf'))
                probs = logits.softmax(-1).nan_to_num(0.0)  # rows of padded queries may be empty
                heads_out.append(probs @ vh)
            attn = torch.cat(heads_out, -1) @ block.attn.proj.weight.T + block.attn.proj.bias
            for n, (r, c) in enumerate(pos):
                out[:, r, c] = attn[:, n]
    out = torch.roll(out, shifts=(sh, sw), dims=(1, 2))[:, :H, :W]
    x = x + out
    z = F.layer_norm(x, (C,), block.norm2.weight, block.norm2.bias, block.norm2.eps)
    z = F.gelu(z @ block.mlp.fc1.weight.T + block.mlp.fc1.bias)
    return x + z @ block.mlp.fc2.weight.T + block.mlp.fc2.bias


def region_and_window(r: int, c: int, padded_size, window_size, shift_size):
    """(window row, window col, region) of the token at (r, c) of the unshifted padded map."""
    (Hp, Wp), (wh, ww), (sh, sw) = padded_size, window_size, shift_size
    pr, pc = (r - sh) % Hp, (c - sw) % Wp
    return pr // wh, pc // ww, (_region(pr, Hp, wh, sh), _region(pc, Wp, ww, sw))
