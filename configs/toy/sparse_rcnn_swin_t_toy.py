# Sparse R-CNN Swin-T on the built-in toy dataset: the real config with the data, scale and
# schedule of _base_/toy_coco.py (see mask_rcnn_swin_t_toy.py); 100 learnable proposals, not 300,
# for images of a few objects.
_base_ = ['../sparse_rcnn_swin_t_coco_3x.py', './_base_/toy_coco.py']
num_proposals = 100


def _dii_head():  # noqa: E302 (lists replace, not merge: the whole head, with 5 classes)
    return dict(
        type='DIIHead', num_classes=5, num_ffn_fcs=2, num_heads=8, num_cls_fcs=1, num_reg_fcs=3,
        feedforward_channels=2048, in_channels=256, dropout=0.0,
        ffn_act_cfg=dict(type='ReLU', inplace=True),
        dynamic_conv_cfg=dict(type='DynamicConv', in_channels=256, feat_channels=64,
                              out_channels=256, input_feat_shape=7,
                              act_cfg=dict(type='ReLU', inplace=True), norm_cfg=dict(type='LN')),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', clip_border=False,
                        target_means=[0., 0., 0., 0.], target_stds=[0.5, 0.5, 1., 1.]))


model = dict(
    backbone=dict(init_cfg=None, drop_path_rate=0.0),  # no ImageNet weights offline
    rpn_head=dict(num_proposals=num_proposals),
    roi_head=dict(bbox_head=[_dii_head() for _ in range(6)]),
    test_cfg=dict(rcnn=dict(max_per_img=20)))

train_dataloader = {{_base_.toy_train_dataloader}}
val_dataloader = {{_base_.toy_val_dataloader}}
test_dataloader = {{_base_.toy_val_dataloader}}
val_evaluator = {{_base_.toy_val_evaluator}}
test_evaluator = {{_base_.toy_val_evaluator}}
# the toy AdamW over the real config's, keeping Sparse R-CNN's gradient clipping (max norm 1)
optim_wrapper = dict(optimizer=dict(lr=1e-4, fused=True), clip_grad=dict(max_norm=1.0))
param_scheduler = {{_base_.toy_param_scheduler}}
train_cfg = {{_base_.toy_train_cfg}}
default_hooks = {{_base_.toy_default_hooks}}
custom_hooks = {{_base_.toy_custom_hooks}}
auto_scale_lr = {{_base_.toy_auto_scale_lr}}
