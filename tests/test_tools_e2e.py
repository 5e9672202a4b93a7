"""tools/train.py -> checkpoint -> --resume -> tools/test.py -> breakdown files, both toolkits."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from frelu_mm.demo_data import make_cityscapes_scenes, make_coco_shapes

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def tool(*args, cwd=ROOT):
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def det_options(root):
    ann = lambda split: osp.join(root, 'annotations', f'instances_{split}.json')  # noqa: E731
    return [
        f'train_dataloader.dataset.data_root={root}/',
        f'val_dataloader.dataset.data_root={root}/',
        f'test_dataloader.dataset.data_root={root}/',
        f'val_evaluator.ann_file={ann("val")}', f'test_evaluator.ann_file={ann("val")}',
        'train_dataloader.batch_size=2', 'model.backbone.base_channels=2',
        'model.neck.in_channels=[8,16,32,64]', 'model.neck.out_channels=8',
        'model.bbox_head.in_channels=8', 'model.bbox_head.feat_channels=8',
    ]


def seg_options(root):
    return [
        f'train_dataloader.dataset.data_root={root}/',
        f'val_dataloader.dataset.data_root={root}/',
        f'test_dataloader.dataset.data_root={root}/',
        'train_dataloader.batch_size=2', 'model.backbone.base_channels=2',
        'model.backbone.stem_channels=8', 'model.decode_head.in_channels=64',
        'model.decode_head.channels=8', 'model.auxiliary_head.in_channels=32',
        'model.auxiliary_head.channels=4',
    ]


def schedule(iters):
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=5',
            'default_hooks.logger.interval=1']


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_train_resume_test_breakdown(tmp_path, task):
    data = str(tmp_path / 'data')
    if task == 'det':
        make_coco_shapes(data, num_train=4, num_val=2, size=64)
        config, options = 'configs/demo/retinanet_frelu_demo.py', det_options(data)
    else:
        make_cityscapes_scenes(data, num_train=4, num_val=2, size=(64, 128))
        config, options = 'configs/demo/pspnet_frelu_demo.py', seg_options(data)
        options.append('model.data_preprocessor.size=(64,64)')
        options.append('train_dataloader.dataset.pipeline.2.crop_size=(64,64)')
    work = str(tmp_path / 'work')

    tool('tools/train.py', config, '--work-dir', work, '--cfg-options', *options, *schedule(2))
    assert osp.isfile(osp.join(work, 'iter_2.pth'))

    log = tool('tools/train.py', config, '--work-dir', work, '--resume',
               '--cfg-options', *options, *schedule(3))
    assert 'resumed epoch: 0, iter: 2' in log
    assert osp.isfile(osp.join(work, 'iter_3.pth'))

    tool('tools/test.py', config, osp.join(work, 'iter_3.pth'), '--work-dir', work,
         '--cfg-options', *options)
    with open(osp.join(work, 'breakdown.json')) as f:
        breakdown = json.load(f)
    assert breakdown['task'] == task
    expected = ({'mAP', 'AP50', 'AP75', 'APs', 'APm', 'APl'} if task == 'det'
                else {'mIoU', 'mAcc', 'aAcc'})
    assert set(breakdown['overall']) == expected
    classes = ['square', 'disc', 'triangle'] if task == 'det' else None
    if classes:
        assert list(breakdown['per_class']) == classes
    else:
        assert len(breakdown['per_class']) == 19 and list(breakdown['per_class'])[0] == 'road'
    for name in ('breakdown.csv', 'breakdown.md'):
        assert os.path.getsize(osp.join(work, name)) > 0
