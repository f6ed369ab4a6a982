# UperNet, SwinV2-B (window 16, ImageNet-1K 256px weights), ADE20K, 160k.
_base_ = './upernet_swinv2_t_ade20k.py'
model = dict(
    backbone=dict(arch='base',
                  init_cfg=dict(type='Pretrained',
                                checkpoint={{_base_.swinv2_pretrained.base}})),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
