"""mmdet's ``ResNeXt`` and ``RegNet`` with a selectable activation (``ActResNeXt``, ``ActRegNet``).

Both use mmdet's ResNeXt Bottleneck (grouped 3x3, wider inside than ``planes``);
the sites and stages are those of ``ActResNetMixin``.
"""
from mmdet.models.backbones.regnet import RegNet
from mmdet.models.backbones.resnext import Bottleneck, ResNeXt
from mmengine.registry import MODELS

from .activation_sites import BOTTLENECK_SITES, ActBottleneckMixin, ActResNetMixin


class ActResNeXtBottleneck(ActBottleneckMixin, Bottleneck):
    """mmdet ResNeXt Bottleneck with per-site activations.

    It keeps the host class's ``expansion`` (no own attribute), which RegNet sets to 1
    while it builds its stages.
    """


@MODELS.register_module()
class ActResNeXt(ActResNetMixin, ResNeXt):
    """mmdet ``ResNeXt`` whose activations follow ``act_cfg``; see ``ActResNetMixin``.

    With ``act_cfg=dict(type='ReLU')`` it is interchangeable with mmdet's ``ResNeXt``.
    """

    zero_init_in_twin = False  # mmdet's ResNeXt never zero-inits its blocks
    arch_settings = {
        50: (ActResNeXtBottleneck, (3, 4, 6, 3)),
        101: (ActResNeXtBottleneck, (3, 4, 23, 3)),
        152: (ActResNeXtBottleneck, (3, 8, 36, 3)),
    }


@MODELS.register_module()
class ActRegNet(ActResNetMixin, RegNet):
    """mmdet ``RegNet`` whose activations follow ``act_cfg``; see ``ActResNetMixin``.

    With ``act_cfg=dict(type='ReLU')`` it is interchangeable with mmdet's ``RegNet``.
    Its stages are those ``arch`` gives (four for every named RegNetX).
    """

    zero_init_in_twin = False  # RegNet passes its own zero init to the blocks

    def block_sites(self, *args, **kwargs) -> tuple:
        return BOTTLENECK_SITES

    def make_res_layer(self, **kwargs):
        """Build a stage from the twin block (RegNet hard-codes the host's)."""
        kwargs['block'] = ActResNeXtBottleneck
        return super().make_res_layer(**kwargs)
