# Mask R-CNN, Swin-T, FPN, 3x (36 epochs, steps at 27 and 33), multi-scale training.
_base_ = './mask_rcnn_swin_t_coco.py'
param_scheduler = {{_base_.swin_3x_scheduler}}
train_cfg = dict(max_epochs=36)
