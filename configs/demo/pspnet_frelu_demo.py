# The demo PSPNet with FReLU: the change of configs/pspnet_frelu.py, with plain BN
# for one process.
_base_ = './pspnet_relu_demo.py'
model = dict(backbone=dict(act_cfg=dict(type='FReLU', norm_cfg={{_base_.norm_cfg}})))
