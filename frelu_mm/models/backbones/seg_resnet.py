"""mmseg's ``ResNetV1c`` / ``ResNetV1d`` with a selectable activation."""
from mmengine.registry import MODELS
from mmseg.models.backbones.resnet import BasicBlock, Bottleneck, ResNet

from .activation_sites import ActBasicBlockMixin, ActBottleneckMixin, ActResNetMixin


class ActSegBasicBlock(ActBasicBlockMixin, BasicBlock):
    """mmseg BasicBlock with per-site activations."""


class ActSegBottleneck(ActBottleneckMixin, Bottleneck):
    """mmseg Bottleneck with per-site activations."""


@MODELS.register_module()
class ActResNetV1b(ActResNetMixin, ResNet):
    """mmseg ``ResNet`` (V1b) whose activations follow ``act_cfg``; see ``ActResNetMixin``."""

    arch_settings = {
        18: (ActSegBasicBlock, (2, 2, 2, 2)),
        34: (ActSegBasicBlock, (3, 4, 6, 3)),
        50: (ActSegBottleneck, (3, 4, 6, 3)),
        101: (ActSegBottleneck, (3, 4, 23, 3)),
        152: (ActSegBottleneck, (3, 8, 36, 3)),
    }


@MODELS.register_module()
class ActResNetV1c(ActResNetV1b):
    """mmseg ``ResNetV1c`` (3x3 deep stem) whose activations follow ``act_cfg``."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=False, **kwargs)


@MODELS.register_module()
class ActResNetV1d(ActResNetV1b):
    """mmseg ``ResNetV1d`` (deep stem, avg-pool shortcut) whose activations follow ``act_cfg``."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
