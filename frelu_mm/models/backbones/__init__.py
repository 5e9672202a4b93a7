"""ResNet backbones with a selectable activation, for mmdet and mmseg."""
from .activation_sites import ActBasicBlockMixin, ActBottleneckMixin, ActResNetMixin
from .det_resnet import ActResNet
from .seg_resnet import ActResNetV1b, ActResNetV1c, ActResNetV1d
from .shufflenet_v2_frelu import ShuffleNetV2FReLU

__all__ = ['ActBasicBlockMixin', 'ActBottleneckMixin', 'ActResNetMixin', 'ActResNet',
           'ActResNetV1b', 'ActResNetV1c', 'ActResNetV1d', 'ShuffleNetV2FReLU']
