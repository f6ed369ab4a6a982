"""One registration serves MMDetection and MMSegmentation; importing swin_mm needs neither."""
import subprocess
import sys

import swin_mm
from swin_mm import SwinBackbone


def test_builds_from_mmdet_and_mmseg_registries():
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    from mmengine.registry import DefaultScope
    for registry, scope in ((DET_MODELS, 'mmdet'), (SEG_MODELS, 'mmseg')):
        with DefaultScope.overwrite_default_scope(scope):
            model = registry.build(dict(type='SwinBackbone', arch='tiny', depths=(1, 1, 1, 1),
                                        out_indices=(1, 2)))
        assert isinstance(model, SwinBackbone) and model.out_channels == (192, 384)


def test_mmdet_detector_config_builds_with_the_backbone():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    backbone = dict(type='SwinBackbone', depths=(1, 1, 1, 1))
    model = MODELS.build(dict(
        type='RetinaNet', backbone=backbone,
        neck=dict(type='FPN', in_channels=list(SwinBackbone(depths=(1, 1, 1, 1)).out_channels),
                  out_channels=32, start_level=1, add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(type='RetinaHead', num_classes=3, in_channels=32, feat_channels=32,
                       anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                             scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                             strides=[8, 16, 32, 64, 128]),
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                                       target_stds=[1.0, 1.0, 1.0, 1.0]),
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, loss_weight=1.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=1.0))))
    assert isinstance(model.backbone, SwinBackbone)
    import torch
    feats = model.extract_feat(torch.randn(1, 3, 64, 96))
    assert [f.shape[1] for f in feats] == [32] * 5


def test_import_needs_neither_mmdet_nor_mmseg():
    code = ('import sys; sys.modules["mmdet"] = None; sys.modules["mmseg"] = None; '
            'sys.modules["mmcv"] = None; import swin_mm, torch; '
            'print(swin_mm.SwinBackbone(depths=(1, 1, 1, 1))(torch.randn(1, 3, 32, 32))[0].shape)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert 'torch.Size([1, 96, 8, 8])' in out.stdout


def test_registered_once_in_mmengine_root():
    from mmengine.registry import MODELS
    assert MODELS.get('SwinBackbone') is SwinBackbone
    assert swin_mm.registry.register_all() is True
