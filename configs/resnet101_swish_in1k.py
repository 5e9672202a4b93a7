# ResNet-101 on ImageNet-1k (mmpretrain's recipe) with Swish at every backbone activation.
_base_ = './resnet101_relu_in1k.py'
model = dict(
    backbone=dict(
        act_cfg=dict(type='Swish'),
        act_stages=(True, True, True, True),  # all four stages
        stem_act_cfg=dict(type='Swish')))
