"""Twins of shipped host configs (C4, DCN, plugins, GN, caffe, with_cp, dilated V1c,
ResNeXt, RegNet, HRNet), the condition norm following the host, and the zoo check.

Each case is the backbone dict of a real mmdet/mmseg config, made small enough to run in
seconds: depth, stages, strides, dilations, style, norm type, frozen stages, plugins and DCN
kept; widths (with GN's groups), RegNet's arch and HRNet's repeats scaled down. No shipped
config puts NonLocal2d in a backbone, so that case adds it to RetinaNet's ResNet-50.
"""
import importlib
import json
import logging
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.logging import MMLogger
from mmengine.model import revert_sync_batchnorm

from frelu_mm import FReLU
from frelu_mm.layers.condition_norm import host_condition_norm
from frelu_mm.models.backbones.activation_sites import build_site_activation
from frelu_mm.zoo import check_backbone, find_backbones, load_model_cfg, twin_backbone
from frelu_mm.zoo.check import build_backbone, host_norm_type

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FRELU = dict(type='FReLU')
# HRNet with its branches and modules, thinner and with fewer repeats
TINY_HRNET = dict(
    stage1=dict(num_channels=(4, ), num_blocks=(2, )),
    stage2=dict(num_channels=(2, 4), num_blocks=(1, 1)),
    stage3=dict(num_channels=(2, 4, 8), num_blocks=(1, 1, 1), num_modules=2),
    stage4=dict(num_channels=(2, 4, 8, 16), num_blocks=(1, 1, 1, 1), num_modules=2))
NON_LOCAL = [dict(cfg=dict(type='NonLocal2d', reduction=2), stages=(False, True, True, True),
                  position='after_conv2')]

# id: (shipped config, width overrides and changes of the case)
CASES = {
    'c4-caffe': ('mmdet::faster_rcnn/faster-rcnn_r50-caffe_c4-1x_coco.py', dict(base_channels=4)),
    'dcn': ('mmdet::dcn/faster-rcnn_r50-dconv-c3-c5_fpn_1x_coco.py', dict(base_channels=4)),
    'context-block': ('mmdet::gcnet/mask-rcnn_r50-gcb-r16-c3-c5_fpn_1x_coco.py',
                      dict(base_channels=4)),
    'generalized-attention': ('mmdet::empirical_attention/faster-rcnn_r50-attn0010_fpn_1x_coco.py',
                              dict(base_channels=8)),
    'non-local': ('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
                  dict(base_channels=4, plugins=NON_LOCAL)),
    'gn': ('mmdet::gn/mask-rcnn_r50_fpn_gn-all_2x_coco.py',
           dict(base_channels=8, norm_cfg=dict(type='GN', num_groups=4, requires_grad=True))),
    'with-cp': ('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
                dict(base_channels=4, with_cp=True)),
    'v1c-dilated-multigrid-syncbn': (
        'mmseg::deeplabv3/deeplabv3_r101-d16-mg124_4xb2-40k_cityscapes-512x1024.py',
        dict(base_channels=2, stem_channels=8)),
    'resnext': ('mmdet::retinanet/retinanet_x101-32x4d_fpn_1x_coco.py',
                dict(base_channels=8, groups=2, base_width=4)),
    'regnet': ('mmdet::regnet/retinanet_regnetx-800MF_fpn_1x_coco.py',
               dict(arch=dict(w0=8, wa=8.0, wm=2.0, group_w=4, depth=6, bot_mul=1.0),
                    stem_channels=8)),
    'hrnet': ('mmdet::hrnet/faster-rcnn_hrnetv2p-w18-1x_coco.py', dict(extra=TINY_HRNET)),
    'seg-hrnet-syncbn': ('mmseg::hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py',
                         dict(extra=TINY_HRNET)),
}


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Small inputs: one torch thread is faster than two waiting on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shipped_backbone(name: str):
    """The first backbone dict of a shipped config and its toolkit."""
    toolkit, rel = name.split('::')
    package = osp.dirname(importlib.import_module(toolkit).__file__)
    model = load_model_cfg(osp.join(package, '.mim', 'configs', rel))
    return next(find_backbones(model))[1], toolkit


def merge(base: dict, changes: dict) -> dict:
    """``base`` with ``changes``; HRNet's ``extra`` is changed stage by stage."""
    out = dict(base, **changes)
    if 'extra' in changes:
        out['extra'] = {k: {**v, **changes['extra'].get(k, {})} for k, v in base['extra'].items()}
    return out


def case_backbone(case: str):
    name, changes = CASES[case]
    backbone, toolkit = shipped_backbone(name)
    backbone = merge(backbone, changes)
    backbone.pop('init_cfg', None)  # no downloads: the hosts' pretrained weights
    return backbone, toolkit


def build_pair(case: str, act_cfg):
    backbone, toolkit = case_backbone(case)
    scope = backbone['type'].split('.')[0] if '.' in backbone['type'] else toolkit
    torch.manual_seed(0)
    host = build_backbone(backbone, scope)
    torch.manual_seed(0)
    twin = build_backbone(twin_backbone(backbone, toolkit, act_cfg), scope)
    return backbone, host, twin


def input_for(backbone):
    size = 96 if backbone.get('dcn') else 64  # mmcv's DCN wants maps of 3x3 at least
    return torch.randn(2, 3, size, size)


def quiet_init(module):
    """``init_weights`` without mmengine's per-parameter log."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        module.init_weights()
    finally:
        logger.setLevel(level)


@pytest.mark.parametrize('case', list(CASES))
def test_relu_twin_is_the_host(case):
    """Same state_dict keys in the same order, the same init, the same outputs."""
    backbone, host, twin = build_pair(case, dict(type='ReLU'))
    assert type(twin).__name__.startswith('Act')
    assert list(twin.state_dict()) == list(host.state_dict())
    torch.manual_seed(1)
    quiet_init(host)
    torch.manual_seed(1)
    quiet_init(twin)
    for (k, a), b in zip(host.state_dict().items(), twin.state_dict().values()):
        assert torch.equal(a, b), f'{k} initialised differently'
    host, twin = revert_sync_batchnorm(host), revert_sync_batchnorm(twin)
    for m in host.modules():  # move the norms off their init so the comparison bites
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5)
    twin.load_state_dict(host.state_dict(), strict=True)
    x = input_for(backbone)
    for mode in (True, False):
        host.train(mode), twin.train(mode)
        with torch.no_grad():
            for a, b in zip(host(x.clone()), twin(x.clone())):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('case', list(CASES))
def test_frelu_twin_stands_in(case):
    """The zoo check accepts it: host keys plus FReLU's only, host norm type, train and
    eval forwards with the host's shapes."""
    backbone, toolkit = case_backbone(case)
    result = check_backbone(backbone, toolkit, FRELU)
    assert result['accepted'], result['reason']
    assert result['frelus'] > 0


@pytest.mark.parametrize('case,norm_type', [
    ('gn', nn.GroupNorm), ('v1c-dilated-multigrid-syncbn', nn.SyncBatchNorm),
    ('seg-hrnet-syncbn', nn.SyncBatchNorm), ('c4-caffe', nn.BatchNorm2d)])
def test_condition_norm_follows_the_host(case, norm_type):
    backbone, host, twin = build_pair(case, FRELU)
    expected = host_norm_type(host)  # mmcv's SyncBN is mmengine's subclass of torch's
    assert issubclass(expected, norm_type)
    frelus = [m for m in twin.modules() if isinstance(m, FReLU)]
    assert frelus and all(type(f.norm) is expected for f in frelus)
    if norm_type is nn.GroupNorm:
        assert all(f.norm.num_groups == backbone['norm_cfg']['num_groups'] for f in frelus)


def test_funnel_norm_trainable_under_a_frozen_caffe_host():
    backbone, host, twin = build_pair('c4-caffe', FRELU)
    assert backbone['norm_cfg']['requires_grad'] is False and backbone['frozen_stages'] == 1
    assert not any(p.requires_grad for n, p in host.named_parameters() if 'bn' in n)
    for name, m in twin.named_modules():
        if isinstance(m, FReLU):
            frozen_stage = name.startswith('layer1.')  # frozen_stages=1 freezes FReLU too
            assert all(p.requires_grad != frozen_stage for p in m.norm.parameters()), name


def test_c4_default_stages_are_all_three():
    backbone, host, twin = build_pair('c4-caffe', FRELU)
    assert backbone['num_stages'] == 3 and 'act_stages' not in backbone
    assert twin.act_stages == (True, True, True)
    assert sum(isinstance(m, FReLU) for m in twin.modules()) == 3 * (3 + 4 + 6)


def test_hrnet_sites():
    """Default: the blocks of layer1, stage2, stage3; 'fuse' and 'transition' add the
    exchange units of those stages."""
    backbone, toolkit = case_backbone('hrnet')
    twin = build_backbone(twin_backbone(backbone, toolkit, FRELU), 'mmdet')
    where = {n.split('.')[0] for n, m in twin.named_modules() if isinstance(m, FReLU)}
    assert where == {'layer1', 'stage2', 'stage3'}
    assert not any(isinstance(m, FReLU) for n, m in twin.named_modules()
                   if '.fuse' in n or n.startswith('transition'))
    more = dict(twin_backbone(backbone, toolkit, FRELU),
                act_sites=('conv1', 'conv2', 'out', 'fuse', 'transition'))
    twin = build_backbone(more, 'mmdet')
    names = [n for n, m in twin.named_modules() if isinstance(m, FReLU)]
    assert any('.fuse_acts.' in n for n in names) and any('.fuse_layers.' in n for n in names)
    assert {n.split('.')[0] for n in names if n.startswith('transition')} == \
        {'transition1', 'transition2'}  # transition3 feeds stage4, which keeps ReLU
    twin.train()
    sum(o.sum() for o in twin(torch.randn(2, 3, 64, 64))).backward()


def test_host_condition_norm_rules():
    assert host_condition_norm(dict(type='BN', requires_grad=False), 8) == \
        dict(type='BN', requires_grad=True)
    assert host_condition_norm(dict(type='SyncBN', eps=0), 8) == \
        dict(type='SyncBN', requires_grad=True)
    assert host_condition_norm(dict(type='GN', num_groups=32), 64) == \
        dict(type='GN', num_groups=32, requires_grad=True)
    assert host_condition_norm(None, 8) is None
    with pytest.warns(UserWarning, match='num_groups=32 does not divide 24'):
        assert host_condition_norm(dict(type='GN', num_groups=32), 24)['num_groups'] == 24
    with pytest.warns(UserWarning):
        assert host_condition_norm(dict(type='GN', num_groups=16), 24)['num_groups'] == 12
    act = build_site_activation(FRELU, 20, dict(type='GN', num_groups=8, requires_grad=False))
    assert isinstance(act.norm, nn.GroupNorm) and act.norm.num_groups == 5
    assert act.norm.weight.requires_grad


def test_conv_module_condition_norm_follows_and_act_cfg_wins():
    gn = dict(type='GN', num_groups=4)
    m = ConvModule(3, 8, 3, padding=1, norm_cfg=gn, act_cfg=FRELU)
    assert isinstance(m.activate.norm, nn.GroupNorm) and m.activate.norm.num_groups == 4
    m = ConvModule(3, 8, 3, padding=1, norm_cfg=gn,
                   act_cfg=dict(type='FReLU', norm_cfg=dict(type='BN')))
    assert isinstance(m.activate.norm, nn.BatchNorm2d)
    m = ConvModule(3, 8, 3, padding=1, norm_cfg=gn, act_cfg=dict(type='FReLU', norm_cfg=None))
    assert isinstance(m.activate.norm, nn.Identity)
    m = ConvModule(3, 8, 3, padding=1, norm_cfg=None, act_cfg=FRELU)
    assert isinstance(m.activate.norm, nn.BatchNorm2d)  # no host norm: FReLU's default
    m = ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type='SyncBN'), act_cfg=FRELU)
    assert isinstance(m.activate.norm, nn.SyncBatchNorm)


def test_pspnet_frelu_config_inherits_syncbn():
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'pspnet_frelu.py'))
    assert 'norm_cfg' not in cfg.model.backbone.act_cfg
    backbone = dict(cfg.model.backbone.to_dict(), base_channels=2, stem_channels=8)
    backbone.pop('init_cfg', None)
    twin = build_backbone(backbone, 'mmseg')
    frelus = [m for m in twin.modules() if isinstance(m, FReLU)]
    assert len(frelus) == 39 and all(isinstance(f.norm, nn.SyncBatchNorm) for f in frelus)


def test_zoo_check_tool(tmp_path):
    """The tool end to end on the one RPN C4 config: accepted, with a JSON report."""
    out = tmp_path / 'zoo.json'
    done = subprocess.run(
        [sys.executable, 'tools/zoo_check.py', '--toolkits', 'mmdet', '--match',
         'rpn_r50-caffe-c4', '--out', str(out)], cwd=ROOT, capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert 'ResNet family: 1 of 1 configs accepted' in done.stdout
    report = json.loads(out.read_text())
    assert report['summary']['totals']['accepted'] == 1
    [config] = report['configs']
    assert config['config'] == 'mmdet::rpn/rpn_r50-caffe-c4_1x_coco.py' and config['accepted']


DET_TRAIN = '''
_base_ = {base!r}
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
metainfo = dict(classes=('square', 'disc', 'triangle'))
model = dict(backbone=dict(type={twin!r}, act_cfg=dict(type='FReLU'), init_cfg=None, **{tiny}),
             neck=dict(in_channels={neck}, out_channels=8),
             bbox_head=dict(num_classes=3, in_channels=8, feat_channels=8, stacked_convs=1))
pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=(64, 64), keep_ratio=True), dict(type='PackDetInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(
    data_root={root!r}, metainfo=metainfo, ann_file='annotations/instances_train.json',
    data_prefix=dict(img='train/'), pipeline=pipeline))
train_cfg = dict(max_epochs=1, val_interval=10)
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
'''
SEG_TRAIN = '''
_base_ = {base!r}
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
model = dict(pretrained=None, data_preprocessor=dict(size=(64, 128)),
             backbone=dict(type={twin!r}, act_cfg=dict(type='FReLU'), **{tiny}),
             decode_head=dict(in_channels={neck}, channels=30))
pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='Resize', scale=(128, 64), keep_ratio=True), dict(type='PackSegInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(
    data_root={root!r}, pipeline=pipeline))
train_cfg = dict(max_iters=2, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=2))
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
'''
TRAIN_CASES = {
    'resnext': (DET_TRAIN, 'mmdet::retinanet/retinanet_x101-32x4d_fpn_1x_coco.py', 'ActResNeXt',
                dict(base_channels=8, groups=2, base_width=4), [32, 64, 128, 256], 'epoch_1.pth'),
    'regnet': (DET_TRAIN, 'mmdet::regnet/retinanet_regnetx-800MF_fpn_1x_coco.py', 'ActRegNet',
               dict(CASES['regnet'][1], arch=dict(CASES['regnet'][1]['arch'], _delete_=True)),
               [8, 16, 32, 64], 'epoch_1.pth'),
    'hrnet': (SEG_TRAIN, 'mmseg::hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py', 'ActSegHRNet',
              None, [2, 4, 8, 16], 'iter_2.pth'),
}


def test_frelu_twins_train_from_shipped_configs(tmp_path):
    """tools/train.py, 2 iterations of the FReLU twin of a shipped ResNeXt, RegNet and HRNet
    config each, on tiny data (one process for the three: the imports dominate)."""
    from frelu_mm.demo_data import make_cityscapes_scenes, make_coco_shapes
    runs = []
    for family, (template, base, twin, tiny, neck, ckpt) in TRAIN_CASES.items():
        root = str(tmp_path / family / 'data')
        if template is DET_TRAIN:
            make_coco_shapes(root, num_train=4, num_val=1, size=64)
        else:
            make_cityscapes_scenes(root, num_train=2, num_val=1, size=(64, 128))
            tiny = dict(extra=merge(shipped_backbone(base)[0], dict(extra=TINY_HRNET))['extra'])
        config = tmp_path / family / f'{family}_frelu.py'
        config.write_text(template.format(base=base, twin=twin, tiny=tiny, neck=neck,
                                          root=root + '/'))
        runs.append((['tools/train.py', str(config), '--work-dir', str(tmp_path / family / 'work')],
                     tmp_path / family / 'work' / ckpt))
    script = ('import runpy, sys\n'
              f'for argv in {[argv for argv, _ in runs]!r}:\n'
              '    sys.argv = argv\n'
              "    runpy.run_path(argv[0], run_name='__main__')\n")
    done = subprocess.run([sys.executable, '-c', script], cwd=ROOT, capture_output=True,
                          text=True, timeout=900,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))  # tiny models: one thread
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for _, ckpt in runs:
        state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
        assert any('act1.norm.weight' in k for k in state), f'{ckpt}: no FReLU weights'
