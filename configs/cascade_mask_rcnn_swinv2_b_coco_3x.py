# Cascade Mask R-CNN, SwinV2-B (window 16, ImageNet-1K 256px weights), FPN, 3x.
_base_ = './cascade_mask_rcnn_swinv2_t_coco_3x.py'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.3,
                  init_cfg=dict(type='Pretrained',
                                checkpoint={{_base_.swinv2_pretrained.base}})),
    neck=dict(in_channels=[128, 256, 512, 1024]))
