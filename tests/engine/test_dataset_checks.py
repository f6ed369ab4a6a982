"""Bad datasets: each fault a clear error naming the file and the item, before training starts
(or, for boxes MMDetection skips by design, a warning with the count)."""
import json
import logging
import os

import pytest

from swin_mm.data import generate_toy_ade, generate_toy_coco
from swin_mm.engine import DatasetError
from swin_mm.engine.dataset_checks import check_coco_annotations, check_segmentation_folders
from tests.helpers.tools import config_path, load_tool
from tests.tools.test_detection_e2e import data_options


@pytest.fixture
def coco(tmp_path):
    root = generate_toy_coco(str(tmp_path / 'coco'), num_train=3, num_val=2, size=(64, 64))
    ann = os.path.join(root, 'annotations', 'instances_train2017.json')
    with open(ann) as f:
        return root, ann, json.load(f)


def _write(path, data):
    with open(path, 'w') as f:
        json.dump(data, f)


def test_a_valid_dataset_passes(coco):
    root, ann, data = coco
    counts = check_coco_annotations(ann, os.path.join(root, 'train2017'))
    assert counts == dict(images=3, annotations=len(data['annotations']), skipped_boxes=0)


def test_annotation_file_that_is_not_json(coco):
    root, ann, _ = coco
    with open(ann, 'w') as f:
        f.write('{"images": [')
    with pytest.raises(DatasetError, match=r'instances_train2017\.json.* is not valid JSON'):
        check_coco_annotations(ann, os.path.join(root, 'train2017'))


def test_missing_and_empty_image_files(coco):
    root, ann, data = coco
    os.remove(os.path.join(root, 'train2017', '000001.jpg'))
    with pytest.raises(DatasetError,
                       match=r'image id 2: image file .*000001\.jpg.* does not exist'):
        check_coco_annotations(ann, os.path.join(root, 'train2017'))
    open(os.path.join(root, 'train2017', '000001.jpg'), 'wb').close()
    with pytest.raises(DatasetError, match=r'000001\.jpg.* is empty'):
        check_coco_annotations(ann, os.path.join(root, 'train2017'))


def test_empty_image_list(coco):
    root, ann, data = coco
    _write(ann, dict(data, images=[], annotations=[]))
    with pytest.raises(DatasetError, match=r'instances_train2017\.json.* lists no images'):
        check_coco_annotations(ann, os.path.join(root, 'train2017'))


def test_unknown_category_id_names_the_annotation(coco):
    root, ann, data = coco
    data['annotations'][1]['category_id'] = 99
    _write(ann, data)
    bad = data['annotations'][1]
    with pytest.raises(DatasetError, match=rf'annotation id {bad["id"]} \(image id '
                                           rf'{bad["image_id"]}\) has category_id 99, not in the '
                                           rf'categories \[1, 2, 3, 4, 5\]'):
        check_coco_annotations(ann, os.path.join(root, 'train2017'))


def test_zero_and_negative_boxes_are_counted_in_a_warning(coco, caplog):
    root, ann, data = coco
    data['annotations'][0]['bbox'][2] = 0.0
    data['annotations'][1]['bbox'][3] = -4.0
    _write(ann, data)
    with caplog.at_level(logging.WARNING, logger='swin_mm'):
        counts = check_coco_annotations(ann, os.path.join(root, 'train2017'))
    assert counts['skipped_boxes'] == 2
    assert '2 annotation(s) with a zero or negative box size' in caplog.text


def test_segmentation_folder_faults(tmp_path):
    root = generate_toy_ade(str(tmp_path / 'ade'), num_train=2, num_val=1, size=(32, 32))
    images, labels = (os.path.join(root, k, 'training') for k in ('images', 'annotations'))
    assert check_segmentation_folders(images, labels) == 2
    os.remove(os.path.join(labels, '000001.png'))
    with pytest.raises(DatasetError, match=r'image 000001\.jpg: label map .*000001\.png.* does '
                                           r'not exist'):
        check_segmentation_folders(images, labels)
    for name in os.listdir(images):
        os.remove(os.path.join(images, name))
    with pytest.raises(DatasetError, match=r'holds no \*\.jpg image'):
        check_segmentation_folders(images, labels)


@pytest.mark.slow
def test_train_tool_checks_before_building_anything(tmp_path, coco):
    root, ann, data = coco
    data['annotations'][0]['category_id'] = 0
    _write(ann, data)
    with pytest.raises(DatasetError, match=r'train2017\.json: annotation id 1 .*category_id 0'):
        load_tool('train').main([config_path('toy/mask_rcnn_swin_t_toy.py'), '--work-dir',
                                 str(tmp_path / 'w'), *data_options(root + '/')])


@pytest.mark.slow
def test_an_undecodable_image_is_named_when_loaded(tmp_path, coco):
    root, _, _ = coco
    with open(os.path.join(root, 'train2017', '000000.jpg'), 'wb') as f:
        f.write(b'\xff\xd8 this is not a JPEG')
    with pytest.raises(Exception, match=r'000000\.jpg'):
        load_tool('train').main([config_path('toy/mask_rcnn_swin_t_toy.py'), '--work-dir',
                                 str(tmp_path / 'w'), *data_options(root + '/')])


@pytest.mark.parametrize('content', [5, [], {'images': []}])
def test_json_that_is_not_a_coco_dict(coco, content):
    root, ann, _ = coco
    _write(ann, content)
    with pytest.raises(DatasetError, match=r'is not in COCO format: no \['):
        check_coco_annotations(ann, os.path.join(root, 'train2017'))
