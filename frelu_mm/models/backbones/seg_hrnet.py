"""mmseg's ``HRNet`` with a selectable activation (``ActSegHRNet``); sites in ``hrnet_sites``."""
from mmengine.registry import MODELS
from mmseg.models.backbones.hrnet import HRModule, HRNet
from mmseg.models.utils import resize

from .hrnet_sites import ActHRModuleMixin, ActHRNetMixin
from .seg_resnet import ActSegBasicBlock, ActSegBottleneck


class ActSegHRModule(ActHRModuleMixin, HRModule):
    """mmseg HRModule with one activation per fused output."""

    def fuse_sum(self, x, i):
        y = 0
        for j in range(self.num_branches):
            if i == j:
                y += x[j]
            elif j > i:  # mmseg resizes the upsampled branch to this branch's size
                y = y + resize(self.fuse_layers[i][j](x[j]), size=x[i].shape[2:],
                               mode='bilinear', align_corners=False)
            else:
                y += self.fuse_layers[i][j](x[j])
        return y


@MODELS.register_module()
class ActSegHRNet(ActHRNetMixin, HRNet):
    """mmseg ``HRNet`` whose activations follow ``act_cfg``; see ``ActHRNetMixin``.

    With ``act_cfg=dict(type='ReLU')`` it is interchangeable with mmseg's ``HRNet``
    (mmdet's is ``ActHRNet``: one root registry, so the names differ).
    """

    hr_module = ActSegHRModule
    blocks_dict = {'BASIC': ActSegBasicBlock, 'BOTTLENECK': ActSegBottleneck}
