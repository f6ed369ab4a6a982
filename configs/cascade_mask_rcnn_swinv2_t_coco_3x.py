# Cascade Mask R-CNN, SwinV2-T (window 16, ImageNet-1K 256px weights), FPN, 3x: the Swin recipe
# with the V2 backbone (see mask_rcnn_swinv2_t_coco_3x.py for why).
_base_ = './cascade_mask_rcnn_swin_t_coco_3x.py'
model = dict(backbone=dict(
    _delete_=True,
    type='SwinV2Backbone',
    arch='tiny',
    window_size=16,
    drop_path_rate=0.2,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint={{_base_.swinv2_pretrained.tiny}})))
