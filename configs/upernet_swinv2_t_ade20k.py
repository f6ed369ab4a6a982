# UperNet, SwinV2-T (window 16, ImageNet-1K 256px weights), ADE20K, 160k: the Swin recipe with the
# V2 backbone (the V2 paper's ADE20K settings are for SwinV2-G; none reproduced here).
_base_ = './upernet_swin_t_ade20k.py'
model = dict(backbone=dict(
    _delete_=True,
    type='SwinV2Backbone',
    arch='tiny',
    window_size=16,
    drop_path_rate=0.3,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint={{_base_.swinv2_pretrained.tiny}})))
