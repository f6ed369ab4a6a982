# UperNet, SwinV2-S (window 16, ImageNet-1K 256px weights), ADE20K, 160k.
_base_ = './upernet_swinv2_t_ade20k.py'
model = dict(backbone=dict(
    arch='small', init_cfg=dict(type='Pretrained',
                                checkpoint={{_base_.swinv2_pretrained.small}})))
