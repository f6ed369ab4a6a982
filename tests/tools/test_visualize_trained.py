"""The CAM of a trained detector's box lies on the box: Mask R-CNN Swin-T (depths 2-2-2-2)
trained for one toy epoch (200 iterations, ~4 minutes on 2 cores) detects the shapes, and for
each detection that matches an object (IoU >= 0.5) HiResCAM puts most of its mass inside it.
(Grad-CAM, which averages the gradient over the map, does not localise single boxes of this
model: docs/visualize.md.)"""
import json

import pytest
import torch

from swin_mm.data import generate_toy_coco
from tests.helpers.tools import config_path, load_tool
from tests.tools.test_detection_e2e import data_options

pytestmark = pytest.mark.slow
CONFIG = config_path('toy/mask_rcnn_swin_t_toy.py')
DEPTHS = ['model.backbone.depths=[2,2,2,2]']


def _boxes(annotations, image_id):
    return torch.tensor([[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
                          a['bbox'][1] + a['bbox'][3]]
                         for a in annotations if a['image_id'] == image_id])


def test_hires_cam_of_a_detected_object_lies_inside_its_box(tmp_path):
    from mmdet.structures.bbox import bbox_overlaps

    from swin_mm.visualize.inspect import inspect
    root = generate_toy_coco(str(tmp_path / 'coco'), num_train=400, num_val=4, seed=0)
    load_tool('train').main([CONFIG, '--work-dir', str(tmp_path / 'work'),
                             *data_options(root + '/', 'train_cfg.val_interval=10')])
    checkpoint = str(tmp_path / 'work' / 'epoch_1.pth')
    tool = load_tool('visualize')
    model, cfg, scope = tool.load_model(CONFIG, checkpoint,
                                        {'model.backbone.depths': [2, 2, 2, 2]})
    val = json.loads((tmp_path / 'coco' / 'annotations' / 'instances_val2017.json').read_text())
    matched = []
    for image in val['images']:
        path = str(tmp_path / 'coco' / 'val2017' / image['file_name'])
        result = inspect(model, tool.load_image(cfg, scope, path)).result
        iou = bbox_overlaps(result.pred_instances.bboxes[:5],
                            _boxes(val['annotations'], image['id'])).max(1).values
        if iou.max() < 0.5:
            continue
        index = int(iou.argmax())
        report = tool.main([CONFIG, checkpoint, path, '--out', str(tmp_path / 'cam'), '--what',
                            'cam', '--target-box', str(index), '--cfg-options', *DEPTHS])
        matched.append(report['mass_inside']['HiResCAM'])
    assert len(matched) >= 2, 'the trained detector found too few objects to test'
    assert min(matched) > 0.6, matched
