# The Swin paper's detection recipe as named pieces, referenced by the configs as {{_base_.swin_*}}
# (names unique, so this file composes with any MMDetection base without key clashes).
custom_imports = dict(imports=['swin_mm'], allow_failed_imports=False)
# Stop at a NaN/inf loss, naming the iteration and the loss terms, before anything is saved.
custom_hooks = [dict(type='NonFiniteLossHook')]

# Multi-scale training, a random choice of two policies: (a) shorter side 480..800 (step 32),
# longer side <= 1333; (b) shorter side 400/500/600, an absolute-range crop of 384-600, then (a).
swin_train_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333),
                     (672, 1333), (704, 1333), (736, 1333), (768, 1333), (800, 1333)]
swin_multiscale = dict(
    type='RandomChoice',
    transforms=[
        [dict(type='RandomChoiceResize', scales=swin_train_scales, keep_ratio=True)],
        [dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)],
              keep_ratio=True),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
              allow_negative_crop=True),
         dict(type='RandomChoiceResize', scales=swin_train_scales, keep_ratio=True)],
    ])

# AdamW 1e-4, betas (0.9, 0.999), weight decay 0.05, none on position tables and norms (nor on
# SwinV2's position-bias MLP and logit scales, as its release has it).
swin_optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'absolute_pos_embed': dict(decay_mult=0.0),
        'relative_position_bias_table': dict(decay_mult=0.0),
        'cpb_mlp': dict(decay_mult=0.0),
        'logit_scale': dict(decay_mult=0.0),
        'norm': dict(decay_mult=0.0),
    }))

# Linear warm-up from 0.001x over 500 iterations, then steps (x0.1).
swin_1x_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
swin_3x_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
swin_pretrained = dict(
    tiny='https://github.com/SwinTransformer/storage/releases/download/v1.0.0/'
         'swin_tiny_patch4_window7_224.pth',
    small='https://github.com/SwinTransformer/storage/releases/download/v1.0.0/'
          'swin_small_patch4_window7_224.pth',
    base='https://github.com/SwinTransformer/storage/releases/download/v1.0.0/'
         'swin_base_patch4_window7_224_22k.pth',
    large_w12='https://github.com/SwinTransformer/storage/releases/download/v1.0.0/'
              'swin_large_patch4_window12_384_22k.pth',
)
# SwinV2's ImageNet-1K release at 256x256 with window 16 (trained with that window: the
# position-bias coordinates need no pretrained_window_sizes).
swinv2_pretrained = dict(
    tiny='https://github.com/SwinTransformer/storage/releases/download/v2.0.0/'
         'swinv2_tiny_patch4_window16_256.pth',
    small='https://github.com/SwinTransformer/storage/releases/download/v2.0.0/'
          'swinv2_small_patch4_window16_256.pth',
    base='https://github.com/SwinTransformer/storage/releases/download/v2.0.0/'
         'swinv2_base_patch4_window16_256.pth',
)
