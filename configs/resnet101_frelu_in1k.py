# ResNet-101 on ImageNet-1k (mmpretrain's recipe) with FReLU, placed as the official
# ResNet-50-FReLU: every site of layer1..layer3; stem and layer4 keep ReLU.
_base_ = './resnet101_relu_in1k.py'
model = dict(backbone=dict(act_cfg=dict(type='FReLU')))
