# Cascade Mask R-CNN, Swin-S, FPN, 3x.
_base_ = './cascade_mask_rcnn_swin_t_coco_3x.py'
model = dict(backbone=dict(
    arch='small', drop_path_rate=0.2,
    init_cfg=dict(type='Pretrained', checkpoint={{_base_.swin_pretrained.small}})))
