# UperNet, Swin-L with window 12 and the ImageNet-22K 384x384 weights, ADE20K, 640x640 crops, 160k:
# the Swin paper's Table 3 row (53.5 mIoU multi-scale).
_base_ = './upernet_swin_t_ade20k.py'
crop_size = (640, 640)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='large', window_size=12, pretrain_img_size=384,
                  init_cfg=dict(type='Pretrained',
                                checkpoint={{_base_.swin_pretrained.large_w12}})),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))

# MMSegmentation's ADE20K pipelines at 640: shorter side 640 x [0.5, 2], long side <= 2560.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2560, 640), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2560, 640), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
