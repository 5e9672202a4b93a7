"""mmseg's ``ResNeXt`` with a selectable activation (``ActSegResNeXt``)."""
from mmengine.registry import MODELS
from mmseg.models.backbones.resnext import Bottleneck, ResNeXt

from .activation_sites import ActBottleneckMixin, ActResNetMixin


class ActSegResNeXtBottleneck(ActBottleneckMixin, Bottleneck):
    """mmseg ResNeXt Bottleneck with per-site activations."""


@MODELS.register_module()
class ActSegResNeXt(ActResNetMixin, ResNeXt):
    """mmseg ``ResNeXt`` whose activations follow ``act_cfg``; see ``ActResNetMixin``.

    With ``act_cfg=dict(type='ReLU')`` it is interchangeable with mmseg's ``ResNeXt``
    (mmdet's is ``ActResNeXt``: one root registry, so the names differ).
    """

    zero_init_in_twin = False  # mmseg's ResNeXt never zero-inits its blocks
    arch_settings = {
        50: (ActSegResNeXtBottleneck, (3, 4, 6, 3)),
        101: (ActSegResNeXtBottleneck, (3, 4, 23, 3)),
        152: (ActSegResNeXtBottleneck, (3, 8, 36, 3)),
    }
