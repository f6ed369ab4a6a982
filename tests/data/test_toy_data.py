"""The built-in toy datasets: valid COCO / ADE20K layouts, deterministic by seed, idempotent."""
import json
import os

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from swin_mm.data import SHAPE_CLASSES, draw_scene, generate_toy_ade, generate_toy_coco
from swin_mm.data.shapes import CLASS_COLOURS


def _files(root):
    return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), 'rb').read()
            for d, _, fs in os.walk(root) for f in fs}


def test_scene_objects_are_visible_enough_and_inside_the_image():
    for seed in range(50):
        image, objects = draw_scene(np.random.default_rng(seed), (96, 128))
        assert image.shape == (96, 128, 3) and image.dtype == np.uint8
        assert 1 <= len(objects) <= 4
        for cls, mask in objects:
            assert 0 <= cls < len(SHAPE_CLASSES) and mask.shape == (96, 128)
            assert mask.sum() >= 30
        # visible masks never overlap: each pixel belongs to at most one object
        assert (sum(m.astype(int) for _, m in objects) <= 1).all()


def test_every_object_stands_out_from_the_background_around_it():
    # The generator's promise (OBJECT_CONTRAST): an object's colour is far from what it covers,
    # so its outline can be seen. Uniformly random colours would miss this for ~3% of objects.
    distances = []
    for seed in range(100):
        image, objects = draw_scene(np.random.default_rng(seed), (96, 128))
        covered = np.any([m for _, m in objects], axis=0)
        for _, mask in objects:
            around = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
            band = around & ~covered  # background pixels next to the object
            if band.sum() >= 20:
                distances.append(np.linalg.norm(image[mask].mean(0) - image[band].mean(0)))
    assert len(distances) > 200
    assert min(distances) > 50  # RGB distance of the mean colours; noise and texture blur it


def test_coco_split_loads_with_pycocotools_and_masks_match_boxes(tmp_path):
    root = generate_toy_coco(str(tmp_path), num_train=6, num_val=3, size=(80, 96), seed=1)
    coco = COCO(os.path.join(root, 'annotations', 'instances_train2017.json'))
    assert len(coco.getImgIds()) == 6 and coco.getCatIds() == [1, 2, 3, 4, 5]
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(SHAPE_CLASSES)
    for ann in coco.loadAnns(coco.getAnnIds()):
        image = coco.loadImgs(ann['image_id'])[0]
        assert os.path.isfile(os.path.join(root, 'train2017', image['file_name']))
        mask = coco.annToMask(ann)
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann['bbox']
        assert (x, y, w, h) == (xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                ys.max() - ys.min() + 1)
        assert ann['area'] == mask.sum() > 0 and ann['iscrowd'] == 0
    with open(os.path.join(root, 'annotations', 'instances_val2017.json')) as f:
        assert len(json.load(f)['images']) == 3


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a = generate_toy_coco(str(tmp_path / 'a'), num_train=3, num_val=1, seed=7)
    b = generate_toy_coco(str(tmp_path / 'b'), num_train=3, num_val=1, seed=7)
    c = generate_toy_coco(str(tmp_path / 'c'), num_train=3, num_val=1, seed=8)
    assert _files(a) == _files(b)
    assert _files(a)['train2017/000000.jpg'] != _files(c)['train2017/000000.jpg']


def test_generation_is_idempotent_and_redone_when_parameters_change(tmp_path):
    root = str(tmp_path)
    generate_toy_coco(root, num_train=2, num_val=1)
    image = os.path.join(root, 'train2017', '000000.jpg')
    stamp = os.path.getmtime(image)
    os.utime(image, (stamp - 100, stamp - 100))
    generate_toy_coco(root, num_train=2, num_val=1)  # complete: nothing rewritten
    assert os.path.getmtime(image) == stamp - 100
    generate_toy_coco(root, num_train=3, num_val=1)  # other parameters: written again
    assert os.path.isfile(os.path.join(root, 'train2017', '000002.jpg'))


def test_ade_labels_are_other_background_and_shapes(tmp_path):
    root = generate_toy_ade(str(tmp_path), num_train=5, num_val=2, size=(64, 64), seed=2)
    for split, count in (('training', 5), ('validation', 2)):
        names = sorted(os.listdir(os.path.join(root, 'annotations', split)))
        assert names == [f'{i:06d}.png' for i in range(count)]
        for name in names:
            labels = cv2.imread(os.path.join(root, 'annotations', split, name),
                                cv2.IMREAD_UNCHANGED)
            image = cv2.imread(os.path.join(root, 'images', split, name[:-4] + '.jpg'))
            assert labels.shape == image.shape[:2] == (64, 64)
            values = set(np.unique(labels).tolist())
            assert {0, 1} <= values <= set(range(len(SHAPE_CLASSES) + 2))
            assert 0 < (labels == 0).mean() < 0.25  # 0 only on outlines: a thin band
            assert (labels == 1).mean() > 0.3


@pytest.mark.parametrize('generate', [generate_toy_coco, generate_toy_ade])
def test_interrupted_generation_is_redone(tmp_path, generate):
    root = generate(str(tmp_path), num_train=2, num_val=1)
    os.remove(os.path.join(root, '.swin_mm_toy.json'))  # as if killed before the marker
    assert generate(root, num_train=2, num_val=1) == root
    assert os.path.isfile(os.path.join(root, '.swin_mm_toy.json'))


@pytest.mark.parametrize('by_class', [True, False])
def test_segmentation_scenes_colour_each_class_from_its_own_family(by_class):
    # saturation: max - min over R, G, B (0..255); per background pixel, per object mean colour
    anchors = np.array(CLASS_COLOURS, float)
    hits, total, background_saturation, object_saturation = 0, 0, [], []
    for seed in range(60):
        image, objects = draw_scene(np.random.default_rng(seed), (96, 128),
                                    colours_by_class=by_class)
        covered = np.any([m for _, m in objects], axis=0)
        background_saturation.append(np.ptp(image[~covered].astype(float), axis=1).mean())
        for cls, mask in objects:
            mean = image[mask].astype(float).mean(0)
            object_saturation.append(np.ptp(mean))
            hits += int(np.argmin(np.linalg.norm(anchors - mean, axis=1)) == cls)
            total += 1
    if by_class:  # every object nearest its own class's colour, more saturated than any background
        assert hits == total > 100
        assert max(background_saturation) < min(object_saturation)
    else:  # random colours: about chance (1 in 5), and backgrounds in full colour
        assert hits / total < 0.4
        assert max(background_saturation) > min(object_saturation)


def test_detection_scenes_are_the_ones_the_readme_measured():
    # make demo's numbers hold for these scenes only: a change here must bump SCENE_VERSION
    image, _ = draw_scene(np.random.default_rng(0), (96, 128))
    assert int(image.astype(np.int64).sum()) == 2356642


def test_ade_colour_option_is_part_of_the_dataset_identity(tmp_path):
    root = str(tmp_path)
    generate_toy_ade(root, num_train=1, num_val=1, seed=4)
    first = _files(root)['images/training/000000.jpg']
    generate_toy_ade(root, num_train=1, num_val=1, seed=4, colours_by_class=False)
    assert _files(root)['images/training/000000.jpg'] != first  # rewritten, not kept
