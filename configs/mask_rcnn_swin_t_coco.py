# Mask R-CNN, Swin-T, FPN, 1x (12 epochs), multi-scale training: the Swin paper's recipe.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    './_base_/swin_coco_instance_1x.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinBackbone',
        arch='tiny',
        window_size=7,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.swin_pretrained.tiny}})),
    neck=dict(in_channels=[96, 192, 384, 768]))
