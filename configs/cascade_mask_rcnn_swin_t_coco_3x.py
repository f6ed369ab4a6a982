# Cascade Mask R-CNN, Swin-T, FPN, 3x, multi-scale training: three 4conv-1fc box heads with
# SyncBN and a GIoU loss (weight 10) on decoded boxes, as the Swin release trained it.
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    './_base_/swin_coco_instance_3x.py',
]


def _box_head(stds):  # noqa: E302 (mmengine configs may define helpers; not kept in the cfg)
    return dict(
        type='ConvFCBBoxHead', num_shared_convs=4, num_shared_fcs=1, in_channels=256,
        conv_out_channels=256, fc_out_channels=1024, roi_feat_size=7, num_classes=80,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0],
                        target_stds=stds),
        reg_class_agnostic=False, reg_decoded_bbox=True,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=10.0))


model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinBackbone',
        arch='tiny',
        window_size=7,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.swin_pretrained.tiny}})),
    neck=dict(in_channels=[96, 192, 384, 768]),
    roi_head=dict(bbox_head=[_box_head([0.1, 0.1, 0.2, 0.2]),
                             _box_head([0.05, 0.05, 0.1, 0.1]),
                             _box_head([0.033, 0.033, 0.067, 0.067])]))
