"""mmdet's ``RetinaHead`` with an ``act_cfg`` for its stacked convs (``ActRetinaHead``)."""
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.dense_heads import RetinaHead
from mmengine.registry import MODELS


@MODELS.register_module()
class ActRetinaHead(RetinaHead):
    """``RetinaHead`` whose classification and regression towers use ``act_cfg``.

    Args:
        act_cfg (dict | None): activation of every stacked conv. Default ReLU, the
            host's; FReLU gets its width from ``ConvModule``.
        **kwargs: ``RetinaHead``'s arguments.
    """

    def __init__(self, *args, act_cfg=dict(type='ReLU'), **kwargs):
        self.act_cfg = act_cfg  # read by _init_layers, which the host calls in __init__
        super().__init__(*args, **kwargs)

    def _stacked_convs(self) -> nn.ModuleList:
        convs = nn.ModuleList()
        for i in range(self.stacked_convs):
            in_channels = self.in_channels if i == 0 else self.feat_channels
            convs.append(
                ConvModule(in_channels, self.feat_channels, 3, stride=1, padding=1,
                           conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                           act_cfg=self.act_cfg))
        return convs

    def _init_layers(self):
        super()._init_layers()  # builds retina_cls / retina_reg as the host does
        self.cls_convs = self._stacked_convs()
        self.reg_convs = self._stacked_convs()
