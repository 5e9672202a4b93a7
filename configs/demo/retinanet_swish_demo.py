# The demo RetinaNet with Swish: the same change as configs/retinanet_swish.py.
_base_ = './retinanet_relu_demo.py'
model = dict(
    backbone=dict(act_cfg=dict(type='Swish'), act_stages=(True, True, True, True),
                  stem_act_cfg=dict(type='Swish')))
