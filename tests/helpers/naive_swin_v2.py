"""SwinV2 written straight from the paper (CVPR 2022, Sec. 3) and the official release's
``swin_transformer_v2.py``, one window and one head at a time.

Independent of swin_mm's window helpers and of its V2 modules' code: explicit zero padding,
torch.roll, a loop over windows, the relative coordinates of every token pair computed in Python
and log-spaced there, the position-bias MLP applied as two matrix products, cosine similarity as
an explicit division, the official -100 region mask from coordinates, post-norm residuals, patch
merging by the release's four strided slices. Only the weights are read from the model. Slow; for
small inputs in tests only. Differentiable, so gradients can be compared too.
"""
import math

import torch
import torch.nn.functional as F

from tests.helpers.naive_swin import _region


def _log_spaced(offset: int, window: int, pretrained: int) -> float:
    t = offset / ((pretrained if pretrained > 0 else window) - 1) * 8
    return math.copysign(math.log2(abs(t) + 1.0) / 3.0, t) if t else 0.0


def naive_bias(attn) -> torch.Tensor:
    """(h, N, N) position bias: 16 * sigmoid(MLP(log-spaced (dy, dx))) for every token pair."""
    (wh, ww), (ph, pw) = attn.window_size, attn.pretrained_window_size
    pos = [(r, c) for r in range(wh) for c in range(ww)]
    coords = torch.tensor([[_log_spaced(ri - rj, wh, ph), _log_spaced(ci - cj, ww, pw)]
                           for ri, ci in pos for rj, cj in pos], dtype=attn.qkv.weight.dtype)
    w1, b1, w2 = attn.cpb_mlp[0].weight, attn.cpb_mlp[0].bias, attn.cpb_mlp[2].weight
    hidden = torch.relu(coords @ w1.T + b1)
    return (16 * torch.sigmoid(hidden @ w2.T)).T.reshape(-1, len(pos), len(pos))


def naive_attention_windows(block, x: torch.Tensor) -> torch.Tensor:
    """The (S)W-MSA branch of a V2 block on x (B, H, W, C): pad, roll, per window and head
    cosine attention, reverse roll, crop."""
    B, H, W, C = x.shape
    attn = block.attn
    (wh, ww), (sh, sw) = block.window_size, block.shift_size
    heads, d = attn.num_heads, C // attn.num_heads
    Hp, Wp = -(-H // wh) * wh, -(-W // ww) * ww
    padded = torch.zeros(B, Hp, Wp, C, dtype=x.dtype)
    padded[:, :H, :W] = x
    is_real = torch.zeros(Hp, Wp, dtype=torch.bool)
    is_real[:H, :W] = True
    shifted = torch.roll(padded, shifts=(-sh, -sw), dims=(1, 2))
    real_shifted = torch.roll(is_real, shifts=(-sh, -sw), dims=(0, 1))
    q_bias = attn.q_bias if attn.q_bias is not None else torch.zeros(C, dtype=x.dtype)
    v_bias = attn.v_bias if attn.v_bias is not None else torch.zeros(C, dtype=x.dtype)
    wq, wk, wv = attn.qkv.weight[:C], attn.qkv.weight[C:2 * C], attn.qkv.weight[2 * C:]
    biases = naive_bias(attn)
    taus = [torch.exp(attn.logit_scale[h, 0, 0]).clamp(max=100.0) for h in range(heads)]
    rows = []
    for r0 in range(0, Hp, wh):
        for c0 in range(0, Wp, ww):
            pos = [(r, c) for r in range(r0, r0 + wh) for c in range(c0, c0 + ww)]
            tokens = torch.stack([shifted[:, r, c] for r, c in pos], 1)  # B, N, C
            q, k, v = tokens @ wq.T + q_bias, tokens @ wk.T, tokens @ wv.T + v_bias
            region = torch.tensor([_region(r, Hp, wh, sh) * 3 + _region(c, Wp, ww, sw)
                                   for r, c in pos])
            extra = (region[:, None] != region[None, :]).to(x.dtype) * -100.0  # N, N
            real = torch.tensor([bool(real_shifted[r, c]) for r, c in pos])
            keep = real[None, :].expand(len(pos), -1) if block.mask_padding else \
                torch.ones(len(pos), len(pos), dtype=torch.bool)
            heads_out = []
            for h in range(heads):
                qh, kh, vh = (t[..., h * d:(h + 1) * d] for t in (q, k, v))
                qn = qh / qh.norm(dim=-1, keepdim=True).clamp(min=1e-12)
                kn = kh / kh.norm(dim=-1, keepdim=True).clamp(min=1e-12)
                logits = (qn @ kn.transpose(1, 2)) * taus[h] + biases[h] + extra
                probs = logits.masked_fill(~keep, float('-inf')).softmax(-1).nan_to_num(0.0)
                heads_out.append(probs @ vh)
            out = torch.cat(heads_out, -1) @ attn.proj.weight.T + attn.proj.bias  # B, N, C
            rows.append((pos, out))
    canvas = torch.zeros(B, Hp, Wp, C, dtype=x.dtype)
    for pos, out in rows:
        for n, (r, c) in enumerate(pos):
            canvas[:, r, c] = out[:, n]
    return torch.roll(canvas, shifts=(sh, sw), dims=(1, 2))[:, :H, :W]


def _ln(x, norm):
    return F.layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, norm.eps)


def naive_block_v2(block, x: torch.Tensor) -> torch.Tensor:
    """A V2 block on x (B, H, W, C): x + norm1(attn(x)), then x + norm2(mlp(x)) (post-norm)."""
    x = x + _ln(naive_attention_windows(block, x), block.norm1)
    z = F.gelu(x @ block.mlp.fc1.weight.T + block.mlp.fc1.bias)
    return x + _ln(z @ block.mlp.fc2.weight.T + block.mlp.fc2.bias, block.norm2)


def naive_merging_v2(merging, x: torch.Tensor) -> torch.Tensor:
    """The release's PatchMerging (x0..x3 slices, concatenated, reduced, normalised), after
    zero-padding odd sizes: (B, H, W, C) -> (B, ceil(H/2), ceil(W/2), 2C)."""
    B, H, W, C = x.shape
    padded = torch.zeros(B, H + H % 2, W + W % 2, C, dtype=x.dtype)
    padded[:, :H, :W] = x
    x0, x1 = padded[:, 0::2, 0::2], padded[:, 1::2, 0::2]
    x2, x3 = padded[:, 0::2, 1::2], padded[:, 1::2, 1::2]
    merged = torch.cat([x0, x1, x2, x3], -1) @ merging.reduction.weight.T
    return _ln(merged, merging.norm) if merging.norm is not None else merged


def naive_backbone_v2(model, image: torch.Tensor):
    """Every output of a SwinV2Backbone (eval, no stochastic depth) for image (B, 3, H, W), as
    NCHW maps in out_indices order."""
    p = model.patch_size
    H, W = image.shape[2:]
    image = F.pad(image, (0, -W % p, 0, -H % p))
    x = F.conv2d(image, model.patch_embed.proj.weight, model.patch_embed.proj.bias, stride=p)
    x = x.permute(0, 2, 3, 1)
    if model.patch_embed.norm is not None:
        x = _ln(x, model.patch_embed.norm)
    outs = []
    for i, stage in enumerate(model.layers):
        for block in stage.blocks:
            x = naive_block_v2(block, x)
        if i in model.out_indices:
            outs.append(_ln(x, getattr(model, f'norm{i}')).permute(0, 3, 1, 2))
        if stage.downsample is not None:
            x = naive_merging_v2(stage.downsample, x)
    return outs
