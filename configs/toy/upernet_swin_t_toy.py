# UperNet Swin-T on the built-in toy ADE20K-format dataset, sized for 2 CPU cores: the real config
# with only the data (6 classes), the image scale (128 px crops of 160 px images) and the schedule
# changed. Data: python tools/make_toy_data.py ade data/toy_ade (each class in its own colour
# family; see swin_mm/data/shapes.py)
_base_ = '../upernet_swin_t_ade20k.py'
data_root = 'data/toy_ade'
crop_size = (128, 128)
metainfo = dict(
    classes=('background', 'circle', 'square', 'triangle', 'star', 'ring'),
    palette=[(120, 120, 120), (220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 0, 230),
             (106, 0, 228)])
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=None, drop_path_rate=0.1),  # no ImageNet weights offline
    decode_head=dict(num_classes=6),
    auxiliary_head=dict(num_classes=6))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(320, 160), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 160), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
img_ratios = [0.75, 1.0, 1.25]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='PackSegInputs')]]),
]
# The ADE20K layout and label convention (0 = other, ignored) with the toy classes: MMSegmentation's
# ADE20KDataset accepts only subsets of ADE20K's own 150 classes, so the base dataset class.
toy_dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo,
                   img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(**toy_dataset, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(**toy_dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader

# Schedule: 400 iterations of batch 4, 50-iteration warm-up, then poly to 0. Learning rate 1e-4,
# as the detection toys (see toy/_base_/toy_coco.py). Results and the experiments behind these
# choices: docs/demos.md.
max_iters = 400
optim_wrapper = dict(optimizer=dict(lr=1e-4, fused=True))  # fused: see toy/_base_/toy_coco.py
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=200)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=200, max_keep_ckpts=2))
custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='EpochSeedHook', seed=0),
                dict(type='TrainingCurvesHook')]
auto_scale_lr = dict(base_batch_size=4)
randomness = dict(seed=0)  # the demo repeats run to run
