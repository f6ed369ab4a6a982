# Sparse R-CNN, Swin-T, FPN, 300 learnable proposals, 3x, multi-scale training: the Swin paper's
# Table 2a row (R-50 44.5 / Swin-T 47.9 box AP), with the recipe it used for all four frameworks.
_base_ = [
    'mmdet::sparse_rcnn/sparse-rcnn_r50_fpn_300-proposals_crop-ms-480-800-3x_coco.py',
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
        out_indices=(0, 1, 2, 3),  # the FPN reads all four (start_level 0, extra level on input)
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.swin_pretrained.tiny}})),
    neck=dict(in_channels=[96, 192, 384, 768]))

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

# The paper's AdamW (1e-4, weight decay 0.05) in place of Sparse R-CNN's (2.5e-5, 1e-4); Sparse
# R-CNN's gradient clipping (max norm 1) kept: its iterative set-prediction heads need it.
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer={{_base_.swin_optim_wrapper.optimizer}},
                     paramwise_cfg={{_base_.swin_optim_wrapper.paramwise_cfg}},
                     clip_grad=dict(max_norm=1, norm_type=2))
param_scheduler = {{_base_.swin_3x_scheduler}}
train_cfg = dict(max_epochs=36)
auto_scale_lr = dict(enable=False, base_batch_size=16)
