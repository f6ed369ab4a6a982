"""What the Swin backbone sees, as arrays a picture can be drawn from: feature maps, the window
layout of a block (W-MSA and SW-MSA), one window's attention, and class activation maps
(Grad-CAM, HiResCAM, Eigen-CAM). Pure torch; :mod:`.draw` turns them into PNGs and an HTML page,
and ``tools/visualize.py`` runs them on a detector or segmentor."""
from .attention import WindowAttentionMap, block_attention
from .cam import eigen_cam, grad_cam, hires_cam, mass_inside
from .features import channel_mean, pca_rgb
from .windows import WindowLayout, window_layout

__all__ = ['WindowAttentionMap', 'block_attention', 'eigen_cam', 'grad_cam', 'hires_cam',
           'mass_inside',
           'channel_mean', 'pca_rgb', 'WindowLayout', 'window_layout']
