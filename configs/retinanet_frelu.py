# RetinaNet R50-FPN 1x COCO with FReLU in the backbone, placed as the official
# ResNet-50-FReLU: every site of layer1..layer3; stem and layer4 keep ReLU.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
# The backbone starts from the host's ReLU ImageNet weights with the funnel at zero
# (relu_init: FReLU == ReLU at step 0), the start that measured best (docs/experiments.md).
model = dict(backbone=dict(type='ActResNet', act_cfg=dict(type='FReLU', relu_init=True)))
