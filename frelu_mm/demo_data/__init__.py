"""Small, deterministic, learnable demo data in COCO, Cityscapes and ImageNet formats."""
from .coco_shapes import make_coco_shapes
from .cityscapes_scenes import make_cityscapes_scenes
from .imagenet_mini import make_imagenet_mini

__all__ = ['make_coco_shapes', 'make_cityscapes_scenes', 'make_imagenet_mini']
