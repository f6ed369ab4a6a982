# UperNet, Swin-B (window 7, ImageNet-22K pretrained), ADE20K, 160k.
# The window-12 variant with the 22K 384x384 weights: upernet_swin_b_w12_22k_ade20k.py.
_base_ = './upernet_swin_t_ade20k.py'
model = dict(
    backbone=dict(arch='base',
                  init_cfg=dict(type='Pretrained', checkpoint={{_base_.swin_pretrained.base}})),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
