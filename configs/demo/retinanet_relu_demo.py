# configs/retinanet_relu.py shrunk for 2 CPU cores and the embedded shapes set
# (`python tools/make_demo_data.py` writes it to data/demo/coco_shapes).
_base_ = '../retinanet_relu.py'

data_root = 'data/demo/coco_shapes/'
metainfo = dict(classes=('square', 'disc', 'triangle'))
iters = 250

model = dict(
    # ResNet-50 at an eighth of the width with the deep stem of the demo pretraining
    # (configs/demo/resnetv1c50_relu_in1k_demo.py), so both fine-tunes start from one
    # backbone; from scratch unless tools/run_demo.py passes that checkpoint (no downloads)
    backbone=dict(base_channels=8, deep_stem=True, stem_channels=16, init_cfg=None,
                  frozen_stages=-1, norm_eval=False),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=32),
    bbox_head=dict(
        num_classes=3, in_channels=32, feat_channels=32, stacked_convs=2,
        anchor_generator=dict(octave_base_scale=2)),
    test_cfg=dict(score_thr=0.05, max_per_img=50))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=0), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=iters, eta_min=1e-5),
]
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(by_epoch=False, interval=iters // 2, max_keep_ckpts=2))
log_processor = dict(by_epoch=False, window_size=25)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
