# ResNet-50 on ImageNet-1k with mmpretrain's recipe, ReLU baseline built by ActResNet:
# the backbone the RetinaNet configs fine-tune (same class, same keys).
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
model = dict(backbone=dict(type='ActResNet', act_cfg=dict(type='ReLU'), norm_eval=False))
