# ShuffleNetV2 1.0x on ImageNet-1k (mmpretrain's recipe) with Swish at every activation.
_base_ = './shufflenetv2_relu_in1k.py'
model = dict(backbone=dict(act_cfg=dict(type='Swish')))
