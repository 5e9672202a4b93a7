# ShuffleNetV2 1.0x on ImageNet-1k (mmpretrain's recipe) with the paper's light FReLU,
# max(x, BN(dw1x3(x)) + BN(dw3x1(x))), at every activation, as the official network.
_base_ = './shufflenetv2_relu_in1k.py'
model = dict(backbone=dict(act_cfg=dict(type='FReLU', condition='factorized_sum')))
