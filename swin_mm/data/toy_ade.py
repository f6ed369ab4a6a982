"""The built-in toy segmentation dataset in the ADE20K layout (what ``make demo-seg`` trains on).

    ROOT/images/{training,validation}/000000.jpg
    ROOT/annotations/{training,validation}/000000.png   uint8 labels:
        0 = "other" (ignored with reduce_zero_label, as in ADE20K): a one-pixel band on every
            outline
        1 = background, 2.. = the shapes in SHAPE_CLASSES order
Each class in its own colour family by default (``draw_scene``'s ``colours_by_class``).
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Tuple

import cv2
import numpy as np

from .shapes import SCENE_VERSION, SHAPE_CLASSES, draw_scene
from .writing import is_complete, mark_complete

__all__ = ['generate_toy_ade', 'TOY_ADE_CLASSES']

TOY_ADE_CLASSES = ('background',) + SHAPE_CLASSES


def label_map(objects, size: Tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 labels for a scene's objects: 1 background, 2+class inside, 0 on outlines."""
    labels = np.ones(size, np.uint8)
    for cls, mask in objects:
        labels[mask] = cls + 2
    grown = cv2.dilate(labels, np.ones((3, 3), np.uint8))
    shrunk = cv2.erode(labels, np.ones((3, 3), np.uint8))
    labels[grown != shrunk] = 0  # pixels with a different label next to them
    return labels


def generate_toy_ade(root: str, num_train: int = 400, num_val: int = 50,
                     size: Tuple[int, int] = (160, 160), seed: int = 0,
                     colours_by_class: bool = True, overwrite: bool = False) -> str:
    """Write the toy ADE20K-format dataset under ``root`` and return ``root``.

    Args:
        root: output folder.
        num_train, num_val: images per split.
        size: (H, W) of every image in pixels.
        seed: fixes every image and label map.
        colours_by_class: each class in its own colour family (see ``draw_scene``); without it,
            random colours, and the class is in the outline alone (as in the detection set).
        overwrite: rewrite even when ``root`` already holds this exact dataset.
    """
    params = dict(kind='ade', version=SCENE_VERSION, num_train=num_train,
                  num_val=num_val, size=list(size), seed=seed,
                  colours_by_class=colours_by_class)
    if not overwrite and is_complete(root, params):
        return root
    for split, count in (('training', num_train), ('validation', num_val)):
        image_dir, label_dir = (osp.join(root, kind, split) for kind in ('images', 'annotations'))
        os.makedirs(image_dir, exist_ok=True)
        os.makedirs(label_dir, exist_ok=True)
        for i in range(count):
            rng = np.random.default_rng([seed, 2 if split == 'training' else 3, i])
            image, objects = draw_scene(rng, tuple(size), colours_by_class=colours_by_class)
            cv2.imwrite(osp.join(image_dir, f'{i:06d}.jpg'), image[..., ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(osp.join(label_dir, f'{i:06d}.png'), label_map(objects, tuple(size)))
    mark_complete(root, params)
    return root
