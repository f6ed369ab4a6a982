# ATSS, Swin-T, FPN, 3x, multi-scale training (boxes only).
_base_ = [
    'mmdet::atss/atss_r50_fpn_1x_coco.py',
    './_base_/swin_recipe.py',
]
data_root = 'data/coco/'
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinBackbone',
        arch='tiny',
        window_size=7,
        drop_path_rate=0.2,
        out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.swin_pretrained.tiny}})),
    neck=dict(in_channels=[192, 384, 768], start_level=0, add_extra_convs='on_output'))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    {{_base_.swin_multiscale}},
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=2,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

# _delete_: replace ATSS's SGD instead of merging AdamW into it.
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer={{_base_.swin_optim_wrapper.optimizer}},
                     paramwise_cfg={{_base_.swin_optim_wrapper.paramwise_cfg}})
param_scheduler = {{_base_.swin_3x_scheduler}}
train_cfg = dict(max_epochs=36)
auto_scale_lr = dict(enable=False, base_batch_size=16)

# tools/test.py --tta: horizontal-flip test, boxes merged by MMDetection's DetTTAModel (as its own
# tools/test.py sets up by default). Only the box-only detector has one: DetTTAModel cannot merge
# instance masks in MMDetection 3.3, so the Mask R-CNN and Cascade configs define none.
tta_model = dict(type='DetTTAModel',
                 tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=(1333, 800), keep_ratio=True)],
        [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
        [dict(type='LoadAnnotations', with_bbox=True)],
        [dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                               'scale_factor', 'flip', 'flip_direction'))]]),
]
