# RetinaNet R50-FPN 1x COCO, ReLU baseline: the host network, built by ActResNet.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
model = dict(backbone=dict(type='ActResNet', act_cfg=dict(type='ReLU')))
