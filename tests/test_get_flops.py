"""FLOP counting with FReLU's max, against hand computations."""
import json

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

import frelu_mm  # noqa: F401
from frelu_mm.analysis import backbone_complexity, count_complexity, model_complexity
from frelu_mm.layers import FReLU


def test_tiny_model_by_hand():
    # conv 3->4, 3x3, no bias, then FReLU(4) on 1x4x8x10 (N*C*H*W = 320 elements)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), FReLU(4))
    x = torch.randn(1, 3, 8, 10)
    conv = 320 * 3 * 9        # one multiply-add per weight per output element
    dwconv = 320 * 9          # depthwise 3x3: 9 per output element
    bn = 320 * 2              # eval BatchNorm with affine: 2 per element
    maximum = 320             # max(x, T(x)): 1 per output element
    res = count_complexity(model, x)
    assert res['flops'] == conv + dwconv + bn + maximum == 12480
    assert res['flops_by_operator'] == {'conv': conv + dwconv, 'batch_norm': bn, 'maximum': maximum}
    assert res['params'] == 3 * 4 * 9 + 4 * 9 + 2 * 4
    assert res['uncounted_ops'] == {}
    # mmengine's own count misses the max; --no-bn drops BN
    plain = count_complexity(model, x, count_max=False)
    assert plain['flops'] == conv + dwconv + bn and plain['uncounted_ops'] == {'aten::maximum': 1}
    no_bn = count_complexity(model, x, count_bn=False)
    assert no_bn['flops'] == conv + dwconv + maximum and no_bn['uncounted_ops'] == {}


def test_reductions_not_counted():
    class M(nn.Module):
        def forward(self, x):
            return torch.max(x), x.max(1)[0], torch.max(x, -x), torch.maximum(x, x * 0)

    res = count_complexity(M(), torch.randn(2, 3, 5))
    assert res['flops_by_operator'] == {'max': 30, 'maximum': 30}


def _backbone_cfg(act):
    return Config(dict(default_scope='mmdet', model=dict(backbone=dict(
        type='ActResNet', depth=18, base_channels=16, num_stages=4, out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='BN', requires_grad=True), act_cfg=act))))


def test_backbone_frelu_extra_cost_by_hand():
    """FReLU minus ReLU backbone = sum over FReLU sites of (9 + 2 + 1) * C*H*W
    FLOPs and (9 + 2) * C params; the classifier adds GAP + the linear layer."""
    size = 64
    relu = backbone_complexity(_backbone_cfg(dict(type='ReLU')), input_size=size, num_classes=10)
    frelu = backbone_complexity(_backbone_cfg(dict(type='FReLU')), input_size=size, num_classes=10)

    from mmengine.registry import MODELS
    net = MODELS.build(_backbone_cfg(dict(type='FReLU')).model.backbone)
    net.eval()
    sites = []
    for m in net.modules():
        if isinstance(m, FReLU):
            m.register_forward_hook(lambda mod, inp, out: sites.append((mod, out.numel())))
    with torch.no_grad():
        net(torch.randn(1, 3, size, size))
    assert sites, 'the FReLU backbone has FReLU sites'
    extra_flops = sum(12 * n for _, n in sites)
    extra_params = sum({id(m): 11 * m.in_channels for m, _ in sites}.values())
    assert frelu['backbone']['flops'] - relu['backbone']['flops'] == extra_flops
    assert frelu['backbone']['params'] - relu['backbone']['params'] == extra_params
    assert frelu['backbone']['flops_by_operator']['maximum'] == sum(n for _, n in sites)
    # classifier: + adaptive avg pool (1 per input element) + linear 128 -> 10
    last = 128 * (size // 32) ** 2
    assert frelu['classifier']['flops'] == frelu['backbone']['flops'] + last + 128 * 10
    assert frelu['classifier']['params'] == frelu['backbone']['params'] + 128 * 10 + 10


def test_whole_detector_and_cli(tmp_path):
    cfg = Config.fromfile('configs/retinanet_frelu.py')
    cfg.model.backbone.depth = 18
    cfg.model.backbone.base_channels = 16
    cfg.model.backbone.init_cfg = None
    cfg.model.neck.in_channels = [16, 32, 64, 128]
    cfg.model.neck.out_channels = 16
    cfg.model.bbox_head.in_channels = 16
    cfg.model.bbox_head.feat_channels = 16
    cfg.model.bbox_head.stacked_convs = 1
    res = model_complexity(cfg, shape=(60, 90))
    assert res['input_shape'] == [1, 3, 64, 96]  # padded to the divisor 32
    assert res['flops_by_operator']['maximum'] > 0
    cfg_path = str(tmp_path / 'tiny_retina.py')
    cfg.dump(cfg_path)
    from tools_get_flops import main
    out = str(tmp_path / 'complexity.json')
    report = main([cfg_path, '--shape', '60', '90', '--input-size', '32', '--out', out])
    saved = json.load(open(out))
    assert saved['model']['flops'] == res['flops'] == report['model']['flops']
    assert saved['classifier']['input_shape'] == [1, 3, 32, 32] and saved['task'] == 'det'


CLS_CONFIG = """_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
custom_imports = dict(imports=['frelu_mm'], allow_failed_imports=False)
model = dict(backbone=dict(type='ActResNet', depth=18, base_channels=8, out_indices=(3, ),
                           act_cfg=dict(type='{act}')),
             head=dict(num_classes=10, in_channels=64))
"""


def test_classification_config(tmp_path):
    """An mmpretrain config: the classifier is the config's ImageClassifier; it counts
    as the same backbone + GAP + linear layer does through the detection path."""
    pytest.importorskip('mmpretrain')
    from frelu_mm.analysis import config_task
    from tools_get_flops import main
    paths = {}
    for act in ('ReLU', 'FReLU'):
        paths[act] = str(tmp_path / f'tiny_{act.lower()}_in1k.py')
        with open(paths[act], 'w') as f:
            f.write(CLS_CONFIG.format(act=act))
    cfg = Config.fromfile(paths['FReLU'])
    assert cfg.default_scope == 'mmpretrain' and config_task(cfg) == 'cls'
    out = str(tmp_path / 'complexity.json')
    report = main([paths['FReLU'], '--out', out])
    saved = json.load(open(out))
    assert saved['task'] == 'cls' and saved['classifier']['num_classes'] == 10
    assert saved['classifier']['input_shape'] == saved['model']['input_shape'] == [1, 3, 224, 224]
    assert saved['model']['flops'] == saved['classifier']['flops'] == report['classifier']['flops']

    # reference: the same backbone as ImageNetClassifier with 10 classes (det path)
    backbone = dict(cfg.model.backbone)
    backbone.pop('init_cfg', None)
    ref = backbone_complexity(Config(dict(default_scope='mmdet', model=dict(backbone=backbone))),
                              num_classes=10)
    for part in ('backbone', 'classifier'):
        assert (report[part]['params'], report[part]['flops']) == \
            (ref[part]['params'], ref[part]['flops']), part
    # by hand: global average pooling of 64 x 7 x 7, then a 64 -> 10 linear layer
    assert report['classifier']['flops'] == report['backbone']['flops'] + 64 * 7 * 7 + 64 * 10
    assert report['classifier']['params'] == report['backbone']['params'] + 64 * 10 + 10
    assert report['classifier']['flops_by_operator']['maximum'] > 0
    # FReLU's extra cost is all in the backbone
    relu = backbone_complexity(paths['ReLU'])
    assert 'maximum' not in relu['classifier']['flops_by_operator']
    assert report['classifier']['flops'] - relu['classifier']['flops'] == \
        report['backbone']['flops'] - relu['backbone']['flops'] > 0
    # another whole-model size is counted on its own
    other = main([paths['ReLU'], '--shape', '64', '64', '--input-size', '32'])
    assert other['model']['input_shape'] == [1, 3, 64, 64]
    assert other['classifier']['input_shape'] == [1, 3, 32, 32]
    assert other['model']['flops'] > other['classifier']['flops']


def test_config_task():
    from frelu_mm.analysis import config_task
    assert config_task(Config(dict(model=dict(type='ImageClassifier', backbone={})))) == 'cls'
    assert config_task(Config(dict(model=dict(type='EncoderDecoder', decode_head={})))) == 'seg'
    assert config_task(Config(dict(model=dict(type='RetinaNet')))) == 'det'
    assert config_task(Config(dict(default_scope='mmpretrain', model=dict(type='X')))) == 'cls'


@pytest.fixture(autouse=True)
def _tools_on_path(monkeypatch):
    import importlib.util
    import sys
    spec = importlib.util.spec_from_file_location('tools_get_flops', 'tools/get_flops.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setitem(sys.modules, 'tools_get_flops', mod)
