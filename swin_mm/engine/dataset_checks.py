"""Check a dataset's files before training starts: a clear error naming the file and the item.

MMDetection skips boxes of zero or negative size by design; those are counted and logged as a
warning here rather than refused. Image files are checked to exist and be non-empty (decoding
every image up front would cost minutes on COCO; an undecodable one is named when loaded).
On full COCO train2017 the check reads the 450 MB annotation file once more (about 20 s).
"""
from __future__ import annotations

import json
import logging
import os
import os.path as osp
from typing import Optional

__all__ = ['DatasetError', 'check_coco_annotations', 'check_segmentation_folders']

log = logging.getLogger('swin_mm')


class DatasetError(ValueError):
    """A dataset file is malformed or refers to something that is not there."""


def _file_error(path: str, what: str, noun: str = 'image file') -> Optional[str]:
    if not osp.isfile(path):
        return f'{what}: {noun} {path!r} does not exist'
    if osp.getsize(path) == 0:
        return f'{what}: {noun} {path!r} is empty (0 bytes)'
    return None


def check_coco_annotations(ann_file: str, img_dir: str) -> dict:
    """Validate a COCO instance annotation file against its image folder.

    Raises :class:`DatasetError` for: a file that is not JSON or lacks ``images`` /
    ``annotations`` / ``categories``, an empty image list, an image file missing or empty, an
    annotation whose ``image_id`` or ``category_id`` is not listed. Boxes with zero or negative
    width/height (MMDetection skips them) are counted and logged as a warning.

    Returns:
        counts: ``dict(images=..., annotations=..., skipped_boxes=...)``.
    """
    try:
        with open(ann_file) as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise DatasetError(f'annotation file {ann_file!r} is not valid JSON: {err}') from None
    missing = [k for k in ('images', 'annotations', 'categories')
               if not isinstance(data, dict) or k not in data]
    if missing:
        raise DatasetError(f'annotation file {ann_file!r} is not in COCO format: no {missing} '
                           f'(expected keys images, annotations, categories)')
    if not data['images']:
        raise DatasetError(f'annotation file {ann_file!r} lists no images')
    image_ids = set()
    for image in data['images']:
        error = _file_error(osp.join(img_dir, image['file_name']),
                                  f'{ann_file}: image id {image["id"]}')
        if error:
            raise DatasetError(error)
        image_ids.add(image['id'])
    category_ids = {c['id'] for c in data['categories']}
    skipped = []
    for ann in data['annotations']:
        where = f'{ann_file}: annotation id {ann.get("id")} (image id {ann.get("image_id")})'
        if ann.get('image_id') not in image_ids:
            raise DatasetError(f'{where} refers to an image id that is not in "images"')
        if ann.get('category_id') not in category_ids:
            raise DatasetError(f'{where} has category_id {ann.get("category_id")}, not in the '
                               f'categories {sorted(category_ids)}')
        bbox = ann.get('bbox')
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise DatasetError(f'{where} has bbox {bbox!r}; expected [x, y, width, height]')
        if bbox[2] <= 0 or bbox[3] <= 0:
            skipped.append(ann.get('id'))
    if skipped:
        log.warning(f'{ann_file}: {len(skipped)} annotation(s) with a zero or negative box size '
                    f'will be skipped by MMDetection (ids {skipped[:5]}'
                    f'{" ..." if len(skipped) > 5 else ""})')
    return dict(images=len(image_ids), annotations=len(data['annotations']),
                skipped_boxes=len(skipped))


def check_segmentation_folders(img_dir: str, seg_dir: str, img_suffix: str = '.jpg',
                               seg_suffix: str = '.png') -> int:
    """Validate an image folder and its label-map folder (the ADE20K layout).

    Raises :class:`DatasetError` when no image has ``img_suffix``, or an image has no non-empty
    label map ``<name><seg_suffix>`` in ``seg_dir``. Returns the number of images.
    """
    names = sorted(f[:-len(img_suffix)] for f in os.listdir(img_dir) if f.endswith(img_suffix))
    if not names:
        raise DatasetError(f'image folder {img_dir!r} holds no *{img_suffix} image')
    for name in names:
        error = (_file_error(osp.join(img_dir, name + img_suffix), f'image {name}')
                 or _file_error(osp.join(seg_dir, name + seg_suffix),
                                f'image {name + img_suffix}', noun='label map'))
        if error:
            raise DatasetError(error)
    return len(names)
