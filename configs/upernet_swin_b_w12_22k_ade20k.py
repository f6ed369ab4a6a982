# UperNet, Swin-B with window 12 and the ImageNet-22K 384x384 weights, ADE20K, 160k.
_base_ = './upernet_swin_b_ade20k.py'
model = dict(backbone=dict(
    window_size=12, pretrain_img_size=384,
    init_cfg=dict(type='Pretrained',
                  checkpoint='https://github.com/SwinTransformer/storage/releases/download/'
                             'v1.0.0/swin_base_patch4_window12_384_22k.pth')))
