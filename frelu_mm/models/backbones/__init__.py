"""ResNet-family and HRNet backbones with a selectable activation, for mmdet and mmseg."""
from .activation_sites import ActBasicBlockMixin, ActBottleneckMixin, ActResNetMixin
from .det_hrnet import ActHRNet
from .det_resnet import ActResNet
from .det_resnext import ActRegNet, ActResNeXt
from .hrnet_sites import ActHRModuleMixin, ActHRNetMixin
from .seg_hrnet import ActSegHRNet
from .seg_resnet import ActResNetV1b, ActResNetV1c, ActResNetV1d
from .seg_resnext import ActSegResNeXt
from .shufflenet_v2_frelu import ShuffleNetV2FReLU

__all__ = ['ActBasicBlockMixin', 'ActBottleneckMixin', 'ActResNetMixin', 'ActHRModuleMixin',
           'ActHRNetMixin', 'ActResNet', 'ActResNeXt', 'ActRegNet', 'ActHRNet', 'ActResNetV1b',
           'ActResNetV1c', 'ActResNetV1d', 'ActSegResNeXt', 'ActSegHRNet', 'ShuffleNetV2FReLU']
