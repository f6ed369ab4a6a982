# Cascade Mask R-CNN, Swin-B (ImageNet-22K pretrained), FPN, 3x.
_base_ = './cascade_mask_rcnn_swin_t_coco_3x.py'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.3,
                  init_cfg=dict(type='Pretrained', checkpoint={{_base_.swin_pretrained.base}})),
    neck=dict(in_channels=[128, 256, 512, 1024]))
