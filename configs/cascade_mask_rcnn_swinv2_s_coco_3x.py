# Cascade Mask R-CNN, SwinV2-S (window 16, ImageNet-1K 256px weights), FPN, 3x.
_base_ = './cascade_mask_rcnn_swinv2_t_coco_3x.py'
model = dict(backbone=dict(
    arch='small', drop_path_rate=0.2,
    init_cfg=dict(type='Pretrained', checkpoint={{_base_.swinv2_pretrained.small}})))
