# As swin_coco_instance_1x.py, 3x: 36 epochs, steps at 27 and 33.
_base_ = './swin_coco_instance_1x.py'
param_scheduler = {{_base_.swin_3x_scheduler}}
train_cfg = dict(max_epochs=36)
