# ShuffleNetV2 1.0x on ImageNet-1k with mmpretrain's recipe, ReLU baseline: the official
# FunnelAct network (ShuffleNetV2FReLU) with ReLU at every activation. The paper's ImageNet
# row (1.4M params, 41M FLOPs) is the 0.5x: --cfg-options model.backbone.widen=0.5x.
_base_ = 'mmpretrain::shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True, type='ShuffleNetV2FReLU', widen='1.0x', out_indices=(3, ),
        act_cfg=dict(type='ReLU')))
