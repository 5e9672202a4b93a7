# configs/resnetv1c50_relu_in1k.py shrunk for 2 CPU cores and the embedded ImageNet-layout
# set (`python tools/make_demo_data.py` writes it to data/demo/imagenet): the demo's
# pretraining. The backbone is the one both demo fine-tunes start from (PSPNet's and,
# with the same deep stem, RetinaNet's): ResNetV1c-50 at an eighth of the width.
_base_ = '../resnetv1c50_relu_in1k.py'

data_root = 'data/demo/imagenet'
classes = data_root + '/meta/classes.txt'  # its 22 class names
iters = 200

model = dict(
    backbone=dict(base_channels=8, stem_channels=16),
    head=dict(num_classes=22, in_channels=256, topk=(1, 5)))
data_preprocessor = dict(num_classes=22)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0), backend='cv2'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, classes=classes, pipeline=train_pipeline),
    sampler=dict(type='InfiniteSampler', shuffle=True))
val_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, classes=classes, pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=30, end=iters, eta_min=1e-5),
]
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(by_epoch=False, interval=iters // 2, max_keep_ckpts=2))
log_processor = dict(by_epoch=False, window_size=25)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
