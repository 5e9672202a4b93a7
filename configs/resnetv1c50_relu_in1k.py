# ResNetV1c-50 (3x3 deep stem) on ImageNet-1k with mmpretrain's recipe, ReLU baseline built
# by mmseg's ActResNetV1c: the backbone the PSPNet configs fine-tune (same class, same keys).
_base_ = 'mmpretrain::resnet/resnetv1c50_8xb32_in1k.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
model = dict(backbone=dict(type='ActResNetV1c', act_cfg=dict(type='ReLU')))
