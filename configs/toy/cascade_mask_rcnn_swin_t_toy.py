# Cascade Mask R-CNN Swin-T on the built-in toy dataset: the real config with the data, scale and
# schedule of _base_/toy_coco.py (see mask_rcnn_swin_t_toy.py). The box heads use BN, not SyncBN:
# SyncBN has no CPU kernel for distributed runs.
_base_ = ['../cascade_mask_rcnn_swin_t_coco_3x.py', './_base_/toy_coco.py']


def _box(stds):  # noqa: E302 (lists replace, not merge: the whole head, 5 classes and BN)
    return dict(
        type='ConvFCBBoxHead', num_shared_convs=4, num_shared_fcs=1, in_channels=256,
        conv_out_channels=256, fc_out_channels=1024, roi_feat_size=7, num_classes=5,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0],
                        target_stds=stds),
        reg_class_agnostic=False, reg_decoded_bbox=True,
        norm_cfg=dict(type='BN', requires_grad=True),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=10.0))


model = dict(
    backbone=dict(init_cfg=None, drop_path_rate=0.0),  # no ImageNet weights offline
    roi_head=dict(bbox_head=[_box([0.1, 0.1, 0.2, 0.2]), _box([0.05, 0.05, 0.1, 0.1]),
                             _box([0.033, 0.033, 0.067, 0.067])], mask_head=dict(num_classes=5)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=300)),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100), rcnn=dict(max_per_img=20)))

train_dataloader = {{_base_.toy_train_dataloader}}
val_dataloader = {{_base_.toy_val_dataloader}}
test_dataloader = {{_base_.toy_val_dataloader}}
val_evaluator = {{_base_.toy_val_evaluator}}
test_evaluator = {{_base_.toy_val_evaluator}}
optim_wrapper = {{_base_.toy_optim_wrapper}}
param_scheduler = {{_base_.toy_param_scheduler}}
train_cfg = {{_base_.toy_train_cfg}}
default_hooks = {{_base_.toy_default_hooks}}
custom_hooks = {{_base_.toy_custom_hooks}}
auto_scale_lr = {{_base_.toy_auto_scale_lr}}
