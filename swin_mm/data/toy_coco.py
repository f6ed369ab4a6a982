"""The built-in toy detection dataset in the COCO layout (what ``make demo`` trains on).

    ROOT/train2017/000000.jpg ...          ROOT/val2017/...
    ROOT/annotations/instances_{train,val}2017.json   (boxes [x, y, w, h], compressed RLE masks)
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Tuple

import cv2
import numpy as np

from .shapes import SCENE_VERSION, SHAPE_CLASSES, draw_scene
from .writing import is_complete, mark_complete

__all__ = ['generate_toy_coco']


def _annotation(mask: np.ndarray, cls: int, image_id: int, ann_id: int) -> dict:
    """A COCO instance annotation for one visible (H, W) bool mask."""
    from pycocotools import mask as mask_utils
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
    return dict(id=ann_id, image_id=image_id, category_id=cls + 1, bbox=[x, y, w, h],
                area=float(mask.sum()), segmentation=rle, iscrowd=0)


def _write_split(root: str, split: str, count: int, size: Tuple[int, int], seed: int) -> None:
    folder = osp.join(root, f'{split}2017')
    os.makedirs(folder, exist_ok=True)
    images, annotations = [], []
    for i in range(count):
        rng = np.random.default_rng([seed, 0 if split == 'train' else 1, i])
        image, objects = draw_scene(rng, size)
        name = f'{i:06d}.jpg'
        cv2.imwrite(osp.join(folder, name), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append(dict(id=i + 1, file_name=name, height=size[0], width=size[1]))
        for cls, mask in objects:
            annotations.append(_annotation(mask, cls, i + 1, len(annotations) + 1))
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(SHAPE_CLASSES)]
    path = osp.join(root, 'annotations', f'instances_{split}2017.json')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)


def generate_toy_coco(root: str, num_train: int = 400, num_val: int = 50,
                      size: Tuple[int, int] = (160, 160), seed: int = 0,
                      overwrite: bool = False) -> str:
    """Write the toy COCO-format dataset under ``root`` and return ``root``.

    Args:
        root: output folder.
        num_train, num_val: images per split.
        size: (H, W) of every image in pixels.
        seed: fixes every image and annotation.
        overwrite: rewrite even when ``root`` already holds this exact dataset (otherwise a
            complete dataset with the same parameters is left as it is: idempotent and fast).
    """
    params = dict(kind='coco', version=SCENE_VERSION, num_train=num_train,
                  num_val=num_val, size=list(size), seed=seed)
    if not overwrite and is_complete(root, params):
        return root
    for split, count in (('train', num_train), ('val', num_val)):
        _write_split(root, split, count, tuple(size), seed)
    mark_complete(root, params)
    return root
