# PSPNet R50-D8 512x1024 80k Cityscapes with FReLU in the backbone, placed as the
# official ResNet-50-FReLU: every site of layer1..layer3; stem and layer4 keep ReLU.
# FReLU's condition norm follows the backbone's norm_cfg: SyncBN, like the rest of this
# multi-GPU model.
_base_ = 'mmseg::pspnet/pspnet_r50-d8_4xb2-80k_cityscapes-512x1024.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='ActResNetV1c',
        # relu_init: starts as the ReLU network whose ImageNet weights it loads, the start
        # that measured best (docs/experiments.md)
        act_cfg=dict(type='FReLU', relu_init=True)))
