"""mmdet's ``HRNet`` with a selectable activation (``ActHRNet``); sites in ``hrnet_sites``."""
from mmdet.models.backbones.hrnet import HRModule, HRNet
from mmengine.registry import MODELS

from .det_resnet import ActBasicBlock, ActBottleneck
from .hrnet_sites import ActHRModuleMixin, ActHRNetMixin


class ActHRModule(ActHRModuleMixin, HRModule):
    """mmdet HRModule with one activation per fused output."""

    def fuse_sum(self, x, i):
        y = 0
        for j in range(self.num_branches):
            y += x[j] if i == j else self.fuse_layers[i][j](x[j])
        return y


@MODELS.register_module()
class ActHRNet(ActHRNetMixin, HRNet):
    """mmdet ``HRNet`` whose activations follow ``act_cfg``; see ``ActHRNetMixin``.

    With ``act_cfg=dict(type='ReLU')`` it is interchangeable with mmdet's ``HRNet``.
    """

    hr_module = ActHRModule
    blocks_dict = {'BASIC': ActBasicBlock, 'BOTTLENECK': ActBottleneck}
