# UperNet, Swin-S, ADE20K, 160k.
_base_ = './upernet_swin_t_ade20k.py'
model = dict(backbone=dict(
    arch='small', init_cfg=dict(type='Pretrained', checkpoint={{_base_.swin_pretrained.small}})))
