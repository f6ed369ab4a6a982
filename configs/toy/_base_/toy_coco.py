# The built-in toy COCO-format dataset at a CPU-sized scale and schedule, as named pieces that the
# configs in configs/toy/ put over their real config ({{_base_.toy_*}}; unique names, no clashes).
# Data: python tools/make_toy_data.py coco data/toy_coco
toy_data_root = 'data/toy_coco/'
toy_metainfo = dict(
    classes=('circle', 'square', 'triangle', 'star', 'ring'),
    palette=[(220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 0, 230), (106, 0, 228)])
toy_train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    # Two scales, not three: the 192 px scale costs more step time than it gives the toy task.
    dict(type='RandomChoiceResize', scales=[(128, 128), (160, 160)], keep_ratio=True),
    dict(type='PackDetInputs'),
]
toy_test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(160, 160), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
toy_train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=toy_data_root, metainfo=toy_metainfo, pipeline=toy_train_pipeline,
                 ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/')))
toy_val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=toy_data_root, metainfo=toy_metainfo, pipeline=toy_test_pipeline,
                 ann_file='annotations/instances_val2017.json', data_prefix=dict(img='val2017/')))
toy_val_evaluator = dict(ann_file=toy_data_root + 'annotations/instances_val2017.json')

# Schedule: 4 epochs of 200 iterations (batch 2), a 50-iteration warm-up, one step (x0.1) before
# the last epoch. The paper's learning rate, 1e-4, though the batch is 2, not 16: from scratch at
# batch 2 it was the best of those tried (docs/demos.md).
toy_max_epochs = 4
# fused=True: AdamW's update as one kernel over all tensors, not a Python loop over each of them.
toy_optim_wrapper = dict(optimizer=dict(lr=1e-4, fused=True), clip_grad=dict(max_norm=10.0))
toy_param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=toy_max_epochs, by_epoch=True, milestones=[3],
         gamma=0.1),
]
toy_train_cfg = dict(max_epochs=toy_max_epochs, val_interval=2)
toy_default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=1, max_keep_ckpts=2))
# Reseeding every epoch makes a resumed run continue exactly as an uninterrupted one.
toy_custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='EpochSeedHook', seed=0),
                    dict(type='TrainingCurvesHook')]
toy_auto_scale_lr = dict(base_batch_size=2)
# A fixed seed: the demo's initialisation, sampling and augmentation repeat run to run.
randomness = dict(seed=0)
