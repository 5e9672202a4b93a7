"""ImageNet pretraining through the tools, and its transfer to detection and segmentation.

Every ImageNet config trains a few iterations on a tiny generated ImageNet-layout set
through tools/train.py and is tested by tools/test.py. Its checkpoint then starts the
detection / segmentation backbone through the standard
``init_cfg=dict(type='Pretrained', checkpoint=CKPT, prefix='backbone.')``: no key
missing or unexpected, every tensor equal, and the same features as the classifier's
backbone on the same input.
"""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from frelu_mm.demo_data import make_imagenet_mini
from frelu_mm.runner import allow_runner_checkpoints
from tiny_configs import tiny_options

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLS_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*_in1k.py')))
# ImageNet config -> the fine-tuning config its checkpoint starts
TRANSFERS = [
    ('resnet50_frelu_in1k.py', 'retinanet_frelu.py'),
    ('resnet50_relu_in1k.py', 'retinanet_relu.py'),
    ('resnetv1c50_frelu_in1k.py', 'pspnet_frelu.py'),
    ('shufflenetv2_frelu_in1k.py', 'retinanet_shufflenetv2_frelu.py'),
    ('shufflenetv2_swish_in1k.py', 'retinanet_shufflenetv2_swish.py'),
]
# Runs all tools in one interpreter (imports once): tools/train.py then tools/test.py
# for every config, exactly as their command lines would.
DRIVER = '''
import runpy, sys
for argv in {commands!r}:
    sys.argv = argv
    runpy.run_path(argv[0], run_name='__main__')
'''


def cls_options(cfg_path, data):
    cfg = Config.fromfile(cfg_path)
    opts = {k: v for k, v in tiny_options(cfg).items()}
    classes = osp.join(data, 'meta', 'classes.txt')
    for split in ('train', 'val', 'test'):
        opts[f'{split}_dataloader.dataset.data_root'] = data
        opts[f'{split}_dataloader.dataset.classes'] = classes
        opts[f'{split}_dataloader.num_workers'] = 0
        opts[f'{split}_dataloader.persistent_workers'] = False
        opts[f'{split}_dataloader.batch_size'] = 11
    opts['train_dataloader.dataset.pipeline.1.scale'] = 32  # RandomResizedCrop
    for split in ('val', 'test'):
        opts[f'{split}_dataloader.dataset.pipeline.1.scale'] = 32  # ResizeEdge
        opts[f'{split}_dataloader.dataset.pipeline.2.crop_size'] = 32  # CenterCrop
    opts.update({'model.head.num_classes': 22, 'data_preprocessor.num_classes': 22,
                 'train_cfg.max_epochs': 1, 'default_hooks.logger.interval': 1})
    if 'shufflenetv2' in cfg_path:
        # mmpretrain's recipe warms up for 5000 iterations; this epoch has 2
        opts.update({'param_scheduler.0.end': 1, 'param_scheduler.1.begin': 1})
    return [f'{k}={v}' for k, v in opts.items()]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Every ImageNet config trained for one epoch (2 iterations) and tested."""
    tmp = tmp_path_factory.mktemp('in1k')
    data = str(tmp / 'imagenet')
    make_imagenet_mini(data, num_train=1, num_val=1, size=32)
    commands, work_dirs = [], {}
    for path in CLS_CONFIGS:
        name = osp.basename(path)
        work = str(tmp / name[:-3])
        opts = cls_options(path, data)
        commands.append(['tools/train.py', path, '--work-dir', work, '--cfg-options', *opts])
        commands.append(['tools/test.py', path, osp.join(work, 'epoch_1.pth'), '--work-dir',
                         work, '--cfg-options', *opts])
        work_dirs[name] = work
    done = subprocess.run([sys.executable, '-c', DRIVER.format(commands=commands)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-4000:]
    return work_dirs


@pytest.mark.parametrize('name', [osp.basename(p) for p in CLS_CONFIGS])
def test_imagenet_config_trains_and_tests(trained, name):
    work = trained[name]
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    with open(osp.join(work, 'breakdown.json')) as f:
        bd = json.load(f)
    assert bd['task'] == 'cls'
    assert len(bd['per_class']) == 22
    # 22 val images, one per class: top-1 is a whole number of them
    top1 = bd['overall']['top1']
    assert abs(top1 * 22 / 100 - round(top1 * 22 / 100)) < 1e-6


def build_backbone(cfg_path, overrides):
    allow_runner_checkpoints()  # runner checkpoints hold HistoryBuffer (as tools/train.py does)
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict({**tiny_options(cfg), **overrides})
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.backbone.eval()  # (mmdet's ResNet.train returns None, so no chaining)
    return model.backbone


@pytest.mark.parametrize('cls_name,task_name', TRANSFERS)
def test_pretrained_checkpoint_starts_the_task_backbone(trained, cls_name, task_name):
    ckpt = osp.join(trained[cls_name], 'epoch_1.pth')
    start = {'model.backbone.init_cfg': dict(type='Pretrained', checkpoint=ckpt,
                                             prefix='backbone.')}
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    source = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}

    task_cfg = osp.join(ROOT, 'configs', task_name)
    task_backbone = build_backbone(task_cfg, start)
    # the standard Pretrained init filled every weight: no key missing or unexpected
    target = task_backbone.state_dict()
    assert set(target) == set(source)
    for key, value in target.items():
        assert torch.equal(value, source[key]), key

    # the same features as the classifier's backbone on the same input, at every output
    # the task uses (PSPNet's dilated ResNet is compared at the classifier's strides:
    # same weights, same function)
    if 'pspnet' in task_name:
        task_backbone = build_backbone(task_cfg, {**start, 'model.backbone.strides': (1, 2, 2, 2),
                                                  'model.backbone.dilations': (1, 1, 1, 1)})
    cls_backbone = build_backbone(osp.join(ROOT, 'configs', cls_name), {
        **start, 'model.backbone.out_indices': task_backbone.out_indices})
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, reference = task_backbone(x), cls_backbone(x)
    assert len(ours) == len(reference) == len(task_backbone.out_indices)
    for a, b in zip(ours, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
