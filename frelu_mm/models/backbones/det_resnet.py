"""mmdet's ``ResNet`` with a selectable activation (``ActResNet``)."""
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmengine.registry import MODELS

from .activation_sites import ActBasicBlockMixin, ActBottleneckMixin, ActResNetMixin


class ActBasicBlock(ActBasicBlockMixin, BasicBlock):
    """mmdet BasicBlock with per-site activations."""


class ActBottleneck(ActBottleneckMixin, Bottleneck):
    """mmdet Bottleneck with per-site activations."""


@MODELS.register_module()
class ActResNet(ActResNetMixin, ResNet):
    """mmdet ``ResNet`` whose activations follow ``act_cfg``; see ``ActResNetMixin``.

    With ``act_cfg=dict(type='ReLU')`` it is interchangeable with mmdet's ``ResNet``.
    """

    arch_settings = {
        18: (ActBasicBlock, (2, 2, 2, 2)),
        34: (ActBasicBlock, (3, 4, 6, 3)),
        50: (ActBottleneck, (3, 4, 6, 3)),
        101: (ActBottleneck, (3, 4, 23, 3)),
        152: (ActBottleneck, (3, 8, 36, 3)),
    }
