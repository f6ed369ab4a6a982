# RepPoints (v1, moment transform, GN in the neck and head), Swin-T, 3x, multi-scale training.
# The Swin paper's Table 2a row is RepPointsV2 (R-50 46.5 / Swin-T 50.0 box AP), which MMDetection
# 3.3 does not ship; this is its v1, with the recipe the paper used for all four frameworks.
_base_ = [
    'mmdet::reppoints/reppoints-moment_r50_fpn-gn_head-gn_2x_coco.py',
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
        out_indices=(1, 2, 3),  # ResNet's FPN starts at level 1: emit only what it reads
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.swin_pretrained.tiny}})),
    neck=dict(in_channels=[192, 384, 768], start_level=0))

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

# _delete_: replace RepPoints' SGD instead of merging AdamW into it.
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer={{_base_.swin_optim_wrapper.optimizer}},
                     paramwise_cfg={{_base_.swin_optim_wrapper.paramwise_cfg}})
param_scheduler = {{_base_.swin_3x_scheduler}}
train_cfg = dict(max_epochs=36)
auto_scale_lr = dict(enable=False, base_batch_size=16)
