# Mask R-CNN SwinV2-T on the built-in toy dataset: mask_rcnn_swin_t_toy.py with the V2 backbone of
# mask_rcnn_swinv2_t_coco_3x.py at window 8 (the toy's 160-pixel images make 5x5 maps at stride
# 32). `make demo-v2` trains it.
_base_ = './mask_rcnn_swin_t_toy.py'
model = dict(backbone=dict(
    _delete_=True,
    type='SwinV2Backbone',
    arch='tiny',
    window_size=8,
    drop_path_rate=0.0,
    out_indices=(0, 1, 2, 3),
    init_cfg=None))  # no ImageNet weights offline
