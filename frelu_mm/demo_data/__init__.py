"""Small, deterministic, learnable demo data in COCO and Cityscapes formats."""
from .coco_shapes import make_coco_shapes
from .cityscapes_scenes import make_cityscapes_scenes

__all__ = ['make_coco_shapes', 'make_cityscapes_scenes']
