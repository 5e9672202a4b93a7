# RetinaNet R50-FPN 1x COCO with Swish at every activation of the backbone.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='ActResNet',
        act_cfg=dict(type='Swish'),
        act_stages=(True, True, True, True),  # all four stages
        stem_act_cfg=dict(type='Swish')))
