# The demo pretraining with FReLU: the same change as configs/resnetv1c50_frelu_in1k.py.
_base_ = './resnetv1c50_relu_in1k_demo.py'
model = dict(backbone=dict(act_cfg=dict(type='FReLU')))
