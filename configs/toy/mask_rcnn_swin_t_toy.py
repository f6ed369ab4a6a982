# Mask R-CNN Swin-T on the built-in toy dataset, sized for 2 CPU cores: the real config with the
# data (toy shapes, 5 classes), image scale (160 px) and schedule of _base_/toy_coco.py. Proposal
# and RoI counts are scaled down with the images, since the RoI heads dominate CPU time once the
# model learns. Results: docs/demos.md.
_base_ = ['../mask_rcnn_swin_t_coco.py', './_base_/toy_coco.py']
model = dict(
    backbone=dict(init_cfg=None, drop_path_rate=0.0),  # no ImageNet weights offline
    roi_head=dict(bbox_head=dict(num_classes=5), mask_head=dict(num_classes=5)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=300),
                   rcnn=dict(sampler=dict(num=32))),
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
