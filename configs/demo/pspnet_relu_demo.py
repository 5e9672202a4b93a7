# configs/pspnet_relu.py shrunk for 2 CPU cores and the embedded street scenes
# (`python tools/make_demo_data.py` writes them to data/demo/cityscapes).
_base_ = '../pspnet_relu.py'

data_root = 'data/demo/cityscapes/'
crop_size = (128, 128)
iters = 350
norm_cfg = dict(type='BN', requires_grad=True)  # one process: plain BN instead of SyncBN

model = dict(
    pretrained=None,  # from scratch unless tools/run_demo.py passes its pretraining
    data_preprocessor=dict(size=crop_size),
    # ResNetV1c-50-D8 at an eighth of the width
    backbone=dict(base_channels=8, stem_channels=16, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=256, channels=32, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=16, norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=iters, val_interval=iters)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=30, end=iters, by_epoch=False),
]
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=iters // 2, max_keep_ckpts=2))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
