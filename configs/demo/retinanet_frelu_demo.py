# The demo RetinaNet with FReLU: the same change as configs/retinanet_frelu.py.
_base_ = './retinanet_relu_demo.py'
model = dict(backbone=dict(act_cfg=dict(type='FReLU')))
