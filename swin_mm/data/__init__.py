"""Generators of the built-in toy datasets (need numpy, OpenCV and pycocotools)."""
from .shapes import SHAPE_CLASSES, draw_scene
from .toy_ade import TOY_ADE_CLASSES, generate_toy_ade
from .toy_coco import generate_toy_coco

__all__ = ['SHAPE_CLASSES', 'TOY_ADE_CLASSES', 'draw_scene', 'generate_toy_ade',
           'generate_toy_coco']
