# PSPNet R50-D8 512x1024 80k Cityscapes with Swish at every activation of the backbone.
_base_ = 'mmseg::pspnet/pspnet_r50-d8_4xb2-80k_cityscapes-512x1024.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='ActResNetV1c',
        act_cfg=dict(type='Swish'),
        act_stages=(True, True, True, True),  # all four stages
        stem_act_cfg=dict(type='Swish')))
