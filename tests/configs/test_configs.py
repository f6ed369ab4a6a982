"""Every config loads, builds, and carries the Swin paper's recipe to the letter."""
import glob
import os

import pytest
from mmengine.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py')))
TOY = sorted(glob.glob(os.path.join(ROOT, 'configs', 'toy', '*.py')))
DET = [c for c in CONFIGS
       if os.path.basename(c).startswith(('mask_rcnn', 'cascade', 'atss', 'sparse', 'reppoints'))]
SEG = [c for c in CONFIGS if os.path.basename(c).startswith('upernet')]
ARCH_DPR = {'mask_rcnn_swin_t_coco.py': ('tiny', 0.2), 'mask_rcnn_swin_t_coco_3x.py': ('tiny', 0.2),
            'mask_rcnn_swin_s_coco_3x.py': ('small', 0.2),
            'cascade_mask_rcnn_swin_t_coco_3x.py': ('tiny', 0.2),
            'cascade_mask_rcnn_swin_s_coco_3x.py': ('small', 0.2),
            'cascade_mask_rcnn_swin_b_coco_3x.py': ('base', 0.3),
            'atss_swin_t_coco_3x.py': ('tiny', 0.2), 'sparse_rcnn_swin_t_coco_3x.py': ('tiny', 0.2),
            'reppoints_swin_t_coco_3x.py': ('tiny', 0.2),
            'mask_rcnn_swinv2_t_coco_3x.py': ('tiny', 0.2),
            'cascade_mask_rcnn_swinv2_t_coco_3x.py': ('tiny', 0.2),
            'cascade_mask_rcnn_swinv2_s_coco_3x.py': ('small', 0.2),
            'cascade_mask_rcnn_swinv2_b_coco_3x.py': ('base', 0.3)}
BOXES_ONLY = ('atss', 'sparse', 'reppoints')
NO_DECAY = {'absolute_pos_embed': dict(decay_mult=0.0),
            'relative_position_bias_table': dict(decay_mult=0.0),
            'cpb_mlp': dict(decay_mult=0.0), 'logit_scale': dict(decay_mult=0.0),
            'norm': dict(decay_mult=0.0)}
BACKBONES = ('SwinBackbone', 'SwinV2Backbone')


def _checkpoint_and_window(backbone):
    """The released checkpoint name and window a config's backbone must use: V1's 224px window 7,
    V2's 256px window 16."""
    if backbone.type == 'SwinV2Backbone':
        return f'swinv2_{backbone.arch}_patch4_window16_256', 16
    return f'swin_{backbone.arch}_patch4_window7_224', 7


def _name(path):
    return os.path.basename(path)


def _build(cfg):
    from mmengine.registry import DefaultScope, MODELS, init_default_scope
    import swin_mm  # noqa: F401
    init_default_scope(cfg.default_scope)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


def test_every_promised_config_exists():
    names = {_name(c) for c in CONFIGS}
    assert set(ARCH_DPR) <= names
    assert {'upernet_swin_t_ade20k.py', 'upernet_swin_s_ade20k.py', 'upernet_swin_b_ade20k.py',
            'upernet_swin_b_w12_22k_ade20k.py', 'upernet_swin_l_ade20k.py'} <= names
    assert {'mask_rcnn_swin_t_toy.py', 'cascade_mask_rcnn_swin_t_toy.py', 'atss_swin_t_toy.py',
            'sparse_rcnn_swin_t_toy.py', 'reppoints_swin_t_toy.py',
            'upernet_swin_t_toy.py', 'mask_rcnn_swinv2_t_toy.py'} <= {_name(c) for c in TOY}
    assert {'upernet_swinv2_t_ade20k.py', 'upernet_swinv2_s_ade20k.py',
            'upernet_swinv2_b_ade20k.py'} <= names


@pytest.mark.parametrize('path', CONFIGS + TOY, ids=_name)
def test_config_builds_with_swin_backbone(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == ['swin_mm']
    assert cfg.model.backbone.type in BACKBONES
    model = _build(cfg)
    assert type(model.backbone).__name__ == cfg.model.backbone.type
    backbone = model.backbone
    if hasattr(model, 'neck'):  # FPN in_channels follow the backbone
        assert list(cfg.model.neck.in_channels) == list(backbone.out_channels)
    else:
        assert list(cfg.model.decode_head.in_channels) == list(backbone.out_channels)
        assert cfg.model.auxiliary_head.in_channels == backbone.num_features[2]


@pytest.mark.parametrize('path', DET, ids=_name)
def test_detection_recipe(path):
    cfg = Config.fromfile(path)
    arch, dpr = ARCH_DPR[_name(path)]
    bb = cfg.model.backbone
    checkpoint, window = _checkpoint_and_window(bb)
    assert (bb.arch, bb.drop_path_rate, bb.window_size) == (arch, dpr, window)
    assert bb.init_cfg.type == 'Pretrained' and checkpoint in bb.init_cfg.checkpoint
    opt = cfg.optim_wrapper
    assert opt.optimizer == dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
    assert opt.paramwise_cfg.custom_keys == NO_DECAY
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.by_epoch, warmup.begin, warmup.end) == \
        ('LinearLR', 0.001, False, 0, 500)
    epochs = 12 if _name(path) == 'mask_rcnn_swin_t_coco.py' else 36
    assert cfg.train_cfg.max_epochs == epochs and steps.end == epochs
    assert steps.type == 'MultiStepLR' and steps.by_epoch and steps.gamma == 0.1
    assert steps.milestones == ([8, 11] if epochs == 12 else [27, 33])
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.model.data_preprocessor.pad_size_divisor == 32
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert dict(type='RandomFlip', prob=0.5) in pipeline
    ms = next(t for t in pipeline if t['type'] == 'RandomChoice')
    short, long_crop = ms.transforms
    scales = [(s, 1333) for s in range(480, 801, 32)]
    assert short == [dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)]
    assert long_crop[0] == dict(type='RandomChoiceResize', keep_ratio=True,
                                scales=[(400, 1333), (500, 1333), (600, 1333)])
    assert long_crop[1] == dict(type='RandomCrop', crop_type='absolute_range',
                                crop_size=(384, 600), allow_negative_crop=True)
    assert long_crop[2] == short[0]
    with_mask = not _name(path).startswith(BOXES_ONLY)
    load = next(t for t in pipeline if t['type'] == 'LoadAnnotations')
    assert load.get('with_mask', False) == with_mask


@pytest.mark.parametrize('path', [c for c in DET if 'cascade' in c], ids=_name)
def test_cascade_heads(path):
    heads = Config.fromfile(path).model.roi_head.bbox_head
    stds = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067]]
    for head, std in zip(heads, stds):
        assert (head.type, head.num_shared_convs, head.num_shared_fcs) == ('ConvFCBBoxHead', 4, 1)
        assert head.norm_cfg.type == 'SyncBN' and head.reg_decoded_bbox
        assert head.loss_bbox == dict(type='GIoULoss', loss_weight=10.0)
        assert head.bbox_coder.target_stds == std
    assert len(heads) == 3


def test_sparse_rcnn_and_reppoints_keep_their_detectors_own_needs():
    sparse = Config.fromfile(os.path.join(ROOT, 'configs', 'sparse_rcnn_swin_t_coco_3x.py'))
    assert sparse.model.rpn_head.num_proposals == 300 and sparse.model.roi_head.num_stages == 6
    assert sparse.model.test_cfg.rcnn.max_per_img == 300
    assert sparse.optim_wrapper.clip_grad == dict(max_norm=1, norm_type=2)
    assert (sparse.model.neck.start_level, sparse.model.neck.add_extra_convs) == (0, 'on_input')
    rep = Config.fromfile(os.path.join(ROOT, 'configs', 'reppoints_swin_t_coco_3x.py'))
    assert rep.model.bbox_head.type == 'RepPointsHead' and rep.model.bbox_head.transform_method == \
        'moment'
    assert rep.model.neck.norm_cfg.type == rep.model.bbox_head.norm_cfg.type == 'GN'
    assert rep.model.backbone.out_indices == (1, 2, 3) and rep.model.neck.start_level == 0
    assert (rep.model.neck.add_extra_convs, rep.model.neck.num_outs) == ('on_input', 5)


@pytest.mark.parametrize('path', SEG, ids=_name)
def test_segmentation_recipe(path):
    cfg = Config.fromfile(path)
    crop = (640, 640) if 'swin_l' in _name(path) else (512, 512)
    assert cfg.model.backbone.drop_path_rate == 0.3
    if cfg.model.backbone.type == 'SwinV2Backbone':
        checkpoint, window = _checkpoint_and_window(cfg.model.backbone)
        assert cfg.model.backbone.window_size == window
        assert checkpoint in cfg.model.backbone.init_cfg.checkpoint
    assert cfg.crop_size == crop and cfg.model.data_preprocessor.size == crop
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999),
                                               weight_decay=0.01)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == NO_DECAY
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end, warmup.by_epoch) == \
        ('LinearLR', 1e-6, 1500, False)
    assert (poly.type, poly.power, poly.eta_min, poly.begin, poly.end) == \
        ('PolyLR', 1.0, 0.0, 1500, 160000)
    assert cfg.train_cfg.max_iters == 160000 and cfg.train_dataloader.batch_size * 8 == 16
    head, aux = cfg.model.decode_head, cfg.model.auxiliary_head
    assert head.type == 'UPerHead' and head.in_index == [0, 1, 2, 3] and head.num_classes == 150
    assert aux.type == 'FCNHead' and aux.in_index == 2 and aux.num_classes == 150
    assert aux.loss_decode.loss_weight == 0.4
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert dict(type='RandomResize', scale=(crop[0] * 4, crop[0]), ratio_range=(0.5, 2.0),
                keep_ratio=True) in pipeline
    assert dict(type='RandomCrop', crop_size=crop, cat_max_ratio=0.75) in pipeline
    assert dict(type='Resize', scale=(crop[0] * 4, crop[0]), keep_ratio=True) in \
        cfg.test_dataloader.dataset.pipeline
    assert dict(type='RandomFlip', prob=0.5) in pipeline
    assert dict(type='PhotoMetricDistortion') in pipeline
    assert cfg.train_dataloader.dataset.data_root == 'data/ade/ADEChallengeData2016'
    resizes = cfg.tta_pipeline[1].transforms[0]
    assert [r.scale_factor for r in resizes] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    if 'w12' in _name(path) or 'swin_l' in _name(path):
        backbone = cfg.model.backbone
        assert backbone.window_size == 12 and backbone.pretrain_img_size == 384
        assert 'window12_384_22k' in backbone.init_cfg.checkpoint
