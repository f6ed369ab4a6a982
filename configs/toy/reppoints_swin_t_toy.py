# RepPoints Swin-T on the built-in toy dataset: the real config with the data, scale and schedule
# of _base_/toy_coco.py (see mask_rcnn_swin_t_toy.py).
_base_ = ['../reppoints_swin_t_coco_3x.py', './_base_/toy_coco.py']
model = dict(backbone=dict(init_cfg=None, drop_path_rate=0.0), bbox_head=dict(num_classes=5),
             test_cfg=dict(nms_pre=300, max_per_img=20))

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
