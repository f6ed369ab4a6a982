"""PatchEmbed: the paper's patch partition + linear embedding, in a layout nothing has to copy."""
import torch
import torch.nn.functional as F

from swin_mm.models.layers import PatchEmbed


def test_patch_embed_is_a_strided_convolution_of_the_zero_padded_image():
    torch.manual_seed(0)
    embed = PatchEmbed(3, 8, 4)
    x = torch.randn(2, 3, 13, 18)  # pads to 16 x 20
    out = embed(x)
    ref = F.conv2d(F.pad(x, (0, 2, 0, 3)), embed.proj.weight, embed.proj.bias, stride=4)
    ref = F.layer_norm(ref.permute(0, 2, 3, 1), (8,), embed.norm.weight, embed.norm.bias)
    assert out.shape == (2, 4, 5, 8)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_patch_embed_writes_channels_last_tokens_without_a_copy():
    embed = PatchEmbed(3, 8, 4, norm_layer=None)
    out = embed(torch.randn(1, 3, 32, 48))
    assert out.shape == (1, 8, 12, 8) and out.is_contiguous()
