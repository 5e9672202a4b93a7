# RetinaNet with ShuffleNetV2 1.0x and the light FReLU at every backbone activation, as the
# official FunnelAct ShuffleNetV2: the paper's row 6. The backbone starts from
# python tools/train.py configs/shufflenetv2_frelu_in1k.py.
_base_ = './retinanet_shufflenetv2_relu.py'
pretrained = 'work_dirs/shufflenetv2_frelu_in1k/epoch_300.pth'
model = dict(
    backbone=dict(
        act_cfg=dict(type='FReLU', condition='factorized_sum'),
        init_cfg=dict(checkpoint=pretrained)))
