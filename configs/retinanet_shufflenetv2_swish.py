# RetinaNet with ShuffleNetV2 1.0x, Swish at every backbone activation: the paper's row 5.
# The backbone starts from python tools/train.py configs/shufflenetv2_swish_in1k.py.
_base_ = './retinanet_shufflenetv2_relu.py'
pretrained = 'work_dirs/shufflenetv2_swish_in1k/epoch_300.pth'
model = dict(backbone=dict(act_cfg=dict(type='Swish'), init_cfg=dict(checkpoint=pretrained)))
