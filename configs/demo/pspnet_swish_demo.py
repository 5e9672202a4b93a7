# The demo PSPNet with Swish: the same change as configs/pspnet_swish.py.
_base_ = './pspnet_relu_demo.py'
model = dict(
    backbone=dict(act_cfg=dict(type='Swish'), act_stages=(True, True, True, True),
                  stem_act_cfg=dict(type='Swish')))
