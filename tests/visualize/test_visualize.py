"""swin_mm.visualize against the model it draws: the window layout against the attention mask the
blocks use (odd sizes, padding), one window's attention against the reference path's own output,
the CAM definitions on cases with a known answer, and the pictures' sizes."""
import pytest
import torch

from swin_mm.models import SwinBlock, SwinBlockV2
from swin_mm.ops.window import PADDING_MASK_VALUE, shift_and_partition, window_attention_mask
from swin_mm.visualize import (block_attention, channel_mean, eigen_cam, grad_cam, hires_cam,
                               mass_inside, pca_rgb, window_layout)
from swin_mm.visualize import draw
from tests.helpers.reference import widen_parameters

SIZES = [(1, 1), (5, 9), (7, 7), (13, 7), (20, 31)]


def _token_of(window, n, layout):
    """(row, col) in the map of token n of window ``window`` (inverse of the layout)."""
    (Hp, Wp), (wh, ww), (sh, sw) = layout.window.shape, layout.window_size, layout.shift_size
    gr, gc = divmod(window, Wp // ww)
    return (gr * wh + n // ww + sh) % Hp, (gc * ww + n % ww + sw) % Wp


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('window_size', [(7, 7), (3, 5)])
@pytest.mark.parametrize('shifted', [False, True])
def test_layout_regions_and_padding_match_the_attention_mask(size, window_size, shifted):
    shift = tuple(w // 2 for w in window_size) if shifted else (0, 0)
    layout = window_layout(size, window_size, shift)
    Hp, Wp = layout.window.shape
    mask = window_attention_mask(size, (Hp, Wp), window_size, shift, True)
    n = window_size[0] * window_size[1]
    assert mask is not None or (not shifted and (Hp, Wp) == size)
    for w in range(Hp * Wp // n):
        tokens = [_token_of(w, i, layout) for i in range(n)]
        assert all(layout.window[t] == w for t in tokens)  # the layout's windows are the mask's
        group = torch.tensor([layout.group[t] for t in tokens])
        pad = torch.tensor([bool(layout.padding[t]) for t in tokens])
        expected = torch.zeros(n, n) if mask is None else mask[w]
        # padded keys are masked for every query; real keys exactly within a region
        assert (expected[:, pad] == PADDING_MASK_VALUE).all()
        real = ~pad
        same = group[:, None] == group[None, :]
        assert torch.equal((expected == 0)[:, real], same[:, real])


@pytest.mark.parametrize('block_type', [SwinBlock, SwinBlockV2], ids=['v1', 'v2'])
@pytest.mark.parametrize('shift, mask_padding', [(False, False), (True, False), (True, True)])
def test_attention_drawn_is_the_models_own(shift, mask_padding, block_type):
    torch.manual_seed(0)
    block = widen_parameters(block_type(32, 4, 7, shift=shift, mask_padding=mask_padding,
                                        fast=False)).eval()
    x = torch.randn(1, 13, 17, 32)
    tokens = x if block.res_post_norm else block.norm1(x)  # V2 normalises after attention
    windows, padded = shift_and_partition(tokens, block.window_size, block.shift_size)
    mask = window_attention_mask((13, 17), padded, block.window_size, block.shift_size,
                                 mask_padding)
    with torch.no_grad():
        own = block.attn.forward_reference(windows, mask)  # B*nW, N, C
        for query in [(0, 0), (6, 8), (12, 16), (3, 15)]:
            amap = block_attention(block, x, query)
            torch.testing.assert_close(amap.probabilities.sum(-1), torch.ones(4))
            assert (amap.keys[:, 0] < padded[0]).all() and (amap.keys[:, 1] < padded[1]).all()
            assert tuple(amap.keys[amap.position].tolist()) == query
            torch.testing.assert_close(
                amap.bias, block.attn.relative_position_bias()[:, amap.position])
            qkv = block.attn.attention_qkv(windows[amap.window]).view(49, 3, 4, 8)
            v = qkv[:, 2].permute(1, 0, 2)  # h, N, d
            heads = torch.einsum('hn,hnd->hd', amap.probabilities, v).reshape(32)
            torch.testing.assert_close(block.attn.proj(heads), own[amap.window, amap.position],
                                       rtol=1e-5, atol=1e-5)


def test_query_outside_the_map_is_refused():
    block = SwinBlock(32, 4, 7, fast=False)
    with pytest.raises(ValueError, match=r'query token \(13, 0\) is outside the 13x17'):
        block_attention(block, torch.randn(1, 13, 17, 32), (13, 0))


def test_grad_cam_is_relu_of_the_gradient_weighted_channels():
    a = torch.stack([torch.tensor([[1.0, 2.0], [0.0, -1.0]]),
                     torch.tensor([[0.0, 1.0], [3.0, 1.0]])])
    g = torch.stack([torch.full((2, 2), 2.0), torch.tensor([[-1.0, -1.0], [-1.0, -1.0]])])
    torch.testing.assert_close(grad_cam(a, g), torch.tensor([[2.0, 3.0], [0.0, 0.0]]))


def test_hires_cam_is_relu_of_gradient_times_activation_per_position():
    a = torch.stack([torch.tensor([[1.0, 2.0], [0.0, -1.0]]),
                     torch.tensor([[0.0, 1.0], [3.0, 1.0]])])
    g = torch.zeros(2, 2, 2)
    g[0, 0, 1], g[1, 1, 0] = 1.0, -1.0  # the score depends on two positions only
    torch.testing.assert_close(hires_cam(a, g), torch.tensor([[0.0, 2.0], [0.0, 0.0]]))
    assert mass_inside(hires_cam(a, g), (1, 0, 2, 1)) == 1.0


def test_eigen_cam_finds_the_dominant_pattern():
    torch.manual_seed(0)
    pattern = torch.zeros(8, 8)
    pattern[2:5, 3:7] = 1.0
    a = torch.randn(16)[:, None, None] * pattern + 0.01 * torch.randn(16, 8, 8) + 0.5
    cam = eigen_cam(a)
    assert cam.shape == (8, 8) and (cam >= 0).all()
    assert mass_inside(cam, (3, 2, 7, 5)) > 0.95


def test_mass_inside_counts_partial_pixels():
    cam = torch.ones(4, 4)
    assert mass_inside(cam, (0, 0, 4, 4)) == 1.0
    assert mass_inside(cam, (1, 1, 3, 3)) == 0.25
    assert mass_inside(cam, (0.5, 0, 1, 4)) == pytest.approx(0.125)


def test_features_pictures():
    f = torch.zeros(5, 4, 6)
    f[:, :, 3:] = torch.arange(5.0)[:, None, None]
    rgb = pca_rgb(f + 0.001 * torch.randn(5, 4, 6))
    assert rgb.shape == (4, 6, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert (rgb[:, :3].mean((0, 1)) - rgb[:, 3:].mean((0, 1))).abs().max() > 0.5
    assert channel_mean(f).shape == (4, 6)


def test_pictures_have_their_size_and_are_not_blank(tmp_path):
    from PIL import Image
    torch.manual_seed(0)
    image = torch.randint(0, 255, (61, 90, 3), dtype=torch.uint8)
    block = widen_parameters(SwinBlock(32, 4, 7, shift=True, fast=False)).eval()
    x = torch.randn(1, 8, 12, 32)
    paths = [
        draw.draw_features(image, [(0, torch.randn(16, 16, 23)), (1, torch.randn(32, 8, 12))],
                           str(tmp_path / 'f.png')),
        draw.draw_windows(image, [('W', window_layout((8, 12), (7, 7), (0, 0))),
                                  ('SW', window_layout((8, 12), (7, 7), (3, 3)))], 8,
                          str(tmp_path / 'w.png')),
        draw.draw_attention(image, block_attention(block, x, (4, 5)), (14, 14), 8,
                            str(tmp_path / 'a.png')),
        draw.draw_cam(image, {'Grad-CAM': torch.rand(61, 90)}, str(tmp_path / 'c.png'),
                      box=(10, 10, 40, 30)),
    ]
    expected = [(640, 640), (900, 450), (1280, 640), (450, 450)]  # figure inches x 100 dpi
    for path, size in zip(paths, expected):
        picture = Image.open(path).convert('RGB')
        assert picture.size == size, path
        pixels = torch.tensor(list(picture.getdata()), dtype=torch.float32)
        assert pixels.std() > 10, path  # not blank
    page = draw.write_html(str(tmp_path), [('f.png', 'features <&>')], 'title')
    text = open(page).read()
    assert '<img src="f.png"' in text and 'features &lt;&amp;&gt;' in text
