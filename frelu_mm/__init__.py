"""frelu_mm: FReLU (Funnel Activation, ECCV 2020) for mmdetection and mmsegmentation.

``import frelu_mm`` registers everything it defines in mmengine's root ``MODELS``,
so configs of both toolkits see it. The layer (``frelu_mm.layers``) needs only
mmcv; the models need mmdet and mmseg.
"""
from .fuse import fuse_frelu
from .layers import FReLU
from .models import *  # noqa: F401,F403  (registers the backbones and heads)
from . import evaluation  # noqa: F401  (registers the breakdown metrics in METRICS)
from . import runner  # noqa: F401  (registers the tools' hooks, transforms, CPU DDP)
from . import funnel  # noqa: F401  (registers FunnelStatsHook in HOOKS)

__version__ = '0.1.0'
__all__ = ['FReLU', 'fuse_frelu']
