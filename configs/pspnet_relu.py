# PSPNet R50-D8 512x1024 80k Cityscapes, ReLU baseline: the host network, built by ActResNetV1c.
_base_ = 'mmseg::pspnet/pspnet_r50-d8_4xb2-80k_cityscapes-512x1024.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
model = dict(backbone=dict(type='ActResNetV1c', act_cfg=dict(type='ReLU')))
