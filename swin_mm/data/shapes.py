"""Random scenes of textured shapes on varied backgrounds: the pixels of the built-in toy datasets.

A scene is an (H, W, 3) uint8 RGB image and a list of objects, each a class index into
:data:`SHAPE_CLASSES` and its visible (H, W) bool mask (later objects occlude earlier ones).
Everything is drawn from a ``numpy.random.Generator``, so a seed fixes the scene.

Backgrounds and textures vary, but within a few tens of RGB levels, and every object's colour is
far from what it covers: the class of a shape is in its outline, and the outline can be seen.
(Before, backgrounds and textures spanned the full colour range and objects could match what they
covered: Mask R-CNN Swin-T from scratch reached bbox mAP 0.011 at iteration 400 of the demo on
that data, 0.127 on this; see the README's "The built-in demos".)

With ``colours_by_class`` (the segmentation set) every class has its own colour family on greyish
backgrounds, as sky is blue and grass green in ADE20K: per-pixel classification from the outline
alone did not get off the ground in a CPU demo's budget (README, "What made segmentation learn").
"""
from __future__ import annotations

import math
from typing import List, Tuple

import cv2
import numpy as np

__all__ = ['CLASS_COLOURS', 'SCENE_VERSION', 'SHAPE_CLASSES', 'draw_scene']

SHAPE_CLASSES = ('circle', 'square', 'triangle', 'star', 'ring')
#: Bumped whenever draw_scene draws differently, so that datasets written before are rewritten.
SCENE_VERSION = 2
MIN_VISIBLE_FRACTION = 0.4  # an object more hidden than this is left out of the scene
MIN_VISIBLE_PIXELS = 30
BACKGROUND_SPREAD = 60.0  # the background's second colour: within this of the first, per channel
TEXTURE_SPREAD = 50.0  # an object's second texture colour: within this of its first, per channel
OBJECT_CONTRAST = 120.0  # an object's colour: at least this far (RGB distance) from what it covers
#: With ``colours_by_class``: each class's RGB colour (red, green, blue, yellow, magenta), varied by
#: up to CLASS_COLOUR_SPREAD per channel, on backgrounds with BACKGROUND_SATURATION of their colour.
CLASS_COLOURS = ((220, 40, 40), (40, 190, 40), (40, 60, 220), (230, 200, 30), (200, 40, 210))
CLASS_COLOUR_SPREAD = 35.0
BACKGROUND_SATURATION = 0.25


def _near(rng: np.random.Generator, colour: np.ndarray, spread: float) -> np.ndarray:
    """A colour within ``spread`` of ``colour`` in every channel (clipped to 0..255)."""
    return np.clip(colour + rng.uniform(-spread, spread, 3), 0, 255)


def _contrasting(rng: np.random.Generator, beneath: np.ndarray, tries: int = 50) -> np.ndarray:
    """A random colour at least OBJECT_CONTRAST from ``beneath`` (the last of ``tries`` draws)."""
    for _ in range(tries):
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - beneath) > OBJECT_CONTRAST:
            break
    return colour


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float image: a gradient, stripes or smooth noise between two nearby colours."""
    kind = rng.integers(3)
    c0 = rng.uniform(0, 255, 3)
    c1 = _near(rng, c0, BACKGROUND_SPREAD)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:
        angle = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(angle) + yy * math.sin(angle))
        t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
    elif kind == 1:
        period, angle = rng.uniform(6, 24), rng.uniform(0, math.pi)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period)
    else:
        coarse = rng.uniform(0, 1, (max(h // 16, 2), max(w // 16, 2))).astype(np.float32)
        t = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    return c0 * (1 - t[..., None]) + c1 * t[..., None]


def _shape_mask(rng: np.random.Generator, cls: int, h: int, w: int) -> np.ndarray:
    """(h, w) bool mask of one shape of class ``cls`` at a random place, size and angle."""
    r = rng.uniform(14, 40) * min(h, w) / 160
    cx, cy = rng.uniform(r * 0.6, w - r * 0.6), rng.uniform(r * 0.6, h - r * 0.6)
    angle = rng.uniform(0, 2 * math.pi)
    mask = np.zeros((h, w), np.uint8)
    centre = (int(round(cx)), int(round(cy)))
    if SHAPE_CLASSES[cls] == 'circle':
        cv2.circle(mask, centre, int(round(r)), 1, -1)
    elif SHAPE_CLASSES[cls] == 'ring':
        cv2.circle(mask, centre, int(round(r)), 1, -1)
        cv2.circle(mask, centre, int(round(r * rng.uniform(0.45, 0.65))), 0, -1)
    else:
        corners = {'square': 4, 'triangle': 3, 'star': 10}[SHAPE_CLASSES[cls]]
        radii = [r if i % 2 == 0 or SHAPE_CLASSES[cls] != 'star' else r * 0.45
                 for i in range(corners)]
        points = [(cx + rad * math.cos(angle + 2 * math.pi * i / corners),
                   cy + rad * math.sin(angle + 2 * math.pi * i / corners))
                  for i, rad in enumerate(radii)]
        cv2.fillPoly(mask, [np.round(np.array(points)).astype(np.int32)], 1)
    return mask.astype(bool)


def _texture(rng: np.random.Generator, h: int, w: int, c0: np.ndarray) -> np.ndarray:
    """(h, w, 3) float fill in the RGB colour ``c0``: flat, or stripes or speckle of ``c0`` and a
    nearby colour."""
    kind = rng.integers(3)
    if kind == 0:
        return np.broadcast_to(c0, (h, w, 3))
    c1 = _near(rng, c0, TEXTURE_SPREAD)
    if kind == 1:
        yy, xx = np.mgrid[0:h, 0:w]
        t = ((xx + yy * rng.choice([-1, 0, 1])) // int(rng.integers(3, 8))) % 2
    else:
        t = rng.uniform(0, 1, (h, w)) < 0.3
    return np.where(t[..., None].astype(bool), c1, c0)


def draw_scene(rng: np.random.Generator, size: Tuple[int, int] = (160, 160),
               max_objects: int = 4, colours_by_class: bool = False
               ) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """One random scene.

    Args:
        rng: the random source (a seed fixes the scene).
        size: (H, W) in pixels.
        max_objects: at most this many shapes (at least one).
        colours_by_class: colour each shape from its class's family (CLASS_COLOURS) on a greyish
            background, instead of a random colour far from what it covers.

    Returns:
        (image, objects): image (H, W, 3) uint8 RGB; objects a list of (class index, (H, W) bool
        visible mask), in drawing order, each at least 40% and 30 pixels visible.
    """
    h, w = size
    image = _background(rng, h, w)
    if colours_by_class:
        grey = image.mean(2, keepdims=True)
        image = grey + BACKGROUND_SATURATION * (image - grey)
    drawn: List[Tuple[int, np.ndarray, np.ndarray]] = []  # (class, full mask, visible mask)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(len(SHAPE_CLASSES)))
        mask = _shape_mask(rng, cls, h, w)
        if mask.sum() < MIN_VISIBLE_PIXELS:
            continue
        hidden = [(c, full, vis & ~mask) for c, full, vis in drawn]
        if any(v.sum() < max(MIN_VISIBLE_FRACTION * f.sum(), MIN_VISIBLE_PIXELS)
               for _, f, v in hidden):
            continue  # would hide an earlier object too much: leave this one out
        colour = (_near(rng, np.array(CLASS_COLOURS[cls], float), CLASS_COLOUR_SPREAD)
                  if colours_by_class else _contrasting(rng, image[mask].mean(0)))
        image = np.where(mask[..., None], _texture(rng, h, w, colour), image)
        drawn = hidden + [(cls, mask, mask)]
    noise = rng.normal(0, rng.uniform(0, 8), image.shape)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    return image, [(c, vis) for c, _, vis in drawn]
