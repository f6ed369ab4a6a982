# UperNet with the Swin-L of upernet_swin_l_ade20k.py (C=192, window 12) on the built-in toy
# ADE20K-format dataset: the toy data, scale and schedule of upernet_swin_t_toy.py.
_base_ = './upernet_swin_t_toy.py'
model = dict(
    backbone=dict(arch='large', window_size=12, pretrain_img_size=384),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
