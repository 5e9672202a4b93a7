# RetinaNet FPN 1x COCO with a ShuffleNetV2 1.0x backbone, ReLU: the paper's detection row 4.
# mmdet ships no ShuffleNetV2 ImageNet weights: the backbone starts from this project's own
# pretraining (python tools/train.py configs/shufflenetv2_relu_in1k.py), as the paper's does.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
pretrained = 'work_dirs/shufflenetv2_relu_in1k/epoch_300.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='ShuffleNetV2FReLU', widen='1.0x', out_indices=(0, 1, 2),
        act_cfg=dict(type='ReLU'), frozen_stages=1, norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    # strides 8, 16, 32 -> P3..P5, then P6, P7 from the last input, as RetinaNet R50's FPN
    neck=dict(in_channels=[116, 232, 464], start_level=0, num_outs=5))
