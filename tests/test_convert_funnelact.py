"""The FunnelAct converter, checked without the real file.

``OfficialResNet`` below re-implements megvii-model/FunnelAct's ``resnet/resnet.py``
(``ResNet(Bottleneck_FReLU, ...)``, layer4 with plain ``Bottleneck``) in plain
PyTorch, from the official code's structure: every conv has a bias, the stride sits
on the first 1x1 conv of a block, FReLU (``conv_frelu`` 3x3 depthwise with bias,
``bn_frelu``, max) replaces the three ReLUs of each block in layer1..layer3, the
stem is a biased 7x7 conv + BN + ReLU + 3x3/2 max-pool, and the head is ``fc``.
``width`` scales every stage (64 is the official net; the tests use 8).

How the official file is assumed to be written: FunnelAct saves with
``mge.save(model.state_dict(), path)``, i.e. ``pickle.dump`` of MegEngine's
``Module.state_dict()``, an ``OrderedDict`` of float32 numpy arrays named by
attribute path, with grouped conv weights 5-D ``(groups, out/g, in/g, kh, kw)``,
conv biases and BN tensors ``(1, C, 1, 1)``, no ``num_batches_tracked``, and
``fc.bias`` 1-D. MegEngine 0.5 ran on Python 3.6-3.8 with numpy 1.x, whose default
pickle protocol is 3 and whose arrays pickle through ``numpy.core.multiarray``;
``save_official`` writes exactly that (and other protocols / numpy 2 names are
tested too).
"""
import copy
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from frelu_mm.converters import (RefusedGlobalError, backbone_kwargs_for,
                                 convert_funnelact_checkpoint, convert_funnelact_resnet,
                                 load_numpy_pickle, load_strictly)
from frelu_mm.models import ActResNet, ActResNetV1b

WIDTH = 8  # the official net is WIDTH = 64; the converter is width-agnostic
SIZE = 48  # input side: 12x12 after the stem, 2x2 in layer4


# ----------------------------------------------------------------- the reference network
class OfficialFReLU(nn.Module):

    def __init__(self, c):
        super().__init__()
        self.conv_frelu = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=True)
        self.bn_frelu = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.maximum(x, self.bn_frelu(self.conv_frelu(x)))


class OfficialBottleneck(nn.Module):
    """``Bottleneck_FReLU`` (frelu=True) or ``Bottleneck`` (frelu=False)."""
    expansion = 4

    def __init__(self, in_channels, channels, stride=1, frelu=True):
        super().__init__()
        out = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, stride, bias=True)  # stride here
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out, 1, 1, bias=True)
        self.bn3 = nn.BatchNorm2d(out)
        self.frelu = frelu
        if frelu:
            self.frelu1 = OfficialFReLU(channels)
            self.frelu2 = OfficialFReLU(channels)
            self.frelu3 = OfficialFReLU(out)
        self.downsample = nn.Identity() if in_channels == out and stride == 1 else \
            nn.Sequential(nn.Conv2d(in_channels, out, 1, stride, bias=True), nn.BatchNorm2d(out))

    def forward(self, x):
        act = [self.frelu1, self.frelu2, self.frelu3] if self.frelu else [F.relu] * 3
        y = act[0](self.bn1(self.conv1(x)))
        y = act[1](self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return act[2](y + self.downsample(x))


class OfficialResNet(nn.Module):

    def __init__(self, layers=(3, 4, 6, 3), width=64, num_classes=10):
        super().__init__()
        self.in_channels = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=True)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        for i, n in enumerate(layers):
            self.add_module(f'layer{i + 1}',
                            self._make_layer(width * 2**i, n, 1 if i == 0 else 2, frelu=i < 3))
        self.fc = nn.Linear(width * 8 * 4, num_classes)

    def _make_layer(self, channels, blocks, stride, frelu):
        layers = [OfficialBottleneck(self.in_channels, channels, stride, frelu)]
        self.in_channels = channels * 4
        layers += [OfficialBottleneck(self.in_channels, channels, 1, frelu)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def extract_features(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        feats = []
        for i in range(1, 5):
            x = getattr(self, f'layer{i}')(x)
            feats.append(x)
        return feats


def make_reference(seed=0, width=WIDTH):
    """Random weights and biases; BN statistics calibrated on random batches, then
    perturbed so that they are neither defaults nor the exact batch statistics."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = OfficialResNet(width=width)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
                m.momentum = None  # cumulative average over the calibration batches
        net.train()
        for _ in range(2):
            net.extract_features(torch.randn(2, 3, SIZE, SIZE, generator=g))
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.add_(torch.randn(m.running_mean.shape, generator=g) * 0.05)
                m.running_var.mul_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
    return net.eval()


def megengine_state_dict(net, dtype=np.float32):
    """The reference's weights named and shaped as MegEngine's state_dict() gives them."""
    modules = dict(net.named_modules())
    out = OrderedDict()
    for key, value in net.state_dict().items():
        if key.endswith('num_batches_tracked'):
            continue  # MegEngine's BatchNorm has no such buffer
        owner, _, tensor = key.rpartition('.')
        m, a = modules[owner], value.numpy().astype(dtype)
        if isinstance(m, nn.Conv2d) and tensor == 'weight' and m.groups > 1:
            a = a.reshape(m.groups, m.out_channels // m.groups, *a.shape[1:])
        elif isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) and a.ndim == 1:
            a = a.reshape(1, -1, 1, 1)
        out[key] = a
    return out


def save_official(net, path, protocol=3, numpy1_names=True, dtype=np.float32):
    data = pickle.dumps(megengine_state_dict(net, dtype), protocol=protocol)
    if numpy1_names:  # what a numpy 1.x writer puts in the pickle
        data = data.replace(b'numpy._core.', b'numpy.core.')
    with open(path, 'wb') as f:
        f.write(data)
    return path


@pytest.fixture(scope='module')
def reference():
    return make_reference()


@pytest.fixture(scope='module')
def official_file(reference, tmp_path_factory):
    return str(save_official(reference, tmp_path_factory.mktemp('w') / 'res50_frelu.model'))


def ours_from(checkpoint, dtype=torch.float32, **overrides):
    kwargs = dict(depth=50, style='caffe', act_cfg=dict(type='FReLU'),
                  stem_channels=WIDTH, base_channels=WIDTH)
    kwargs.update(overrides)
    backbone = ActResNet(**kwargs).to(dtype)
    backbone.load_state_dict(checkpoint['state_dict'], strict=True)
    backbone.eval()  # the host ResNet's train() returns None
    return backbone


def assert_features_equal(ours, ref, x, atol=1e-5):
    with torch.no_grad():
        got, want = ours(x), ref.extract_features(x)
    assert len(got) == 4
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, f'res{i + 2}'
        torch.testing.assert_close(a, b, rtol=1e-5, atol=atol, msg=lambda m: f'res{i + 2}: {m}')


# ----------------------------------------------------------------------------- the tests
def test_reference_layout_is_megengine(reference):
    sd = megengine_state_dict(reference)
    assert sd['layer1.0.frelu1.conv_frelu.weight'].shape == (WIDTH, 1, 1, 3, 3)
    assert sd['layer1.0.frelu1.bn_frelu.running_mean'].shape == (1, WIDTH, 1, 1)
    assert sd['layer2.0.conv1.bias'].shape == (1, 2 * WIDTH, 1, 1)
    assert not any(k.startswith('layer4') and 'frelu' in k for k in sd)
    assert sum('frelu' in k and k.endswith('conv_frelu.weight') for k in sd) == 3 * (3 + 4 + 6)


@pytest.mark.parametrize('protocol,numpy1_names', [(3, True), (2, True), (4, False), (5, False)])
def test_pickle_flavours_read_back(reference, tmp_path, protocol, numpy1_names):
    src = save_official(reference, tmp_path / 'res50_frelu.model', protocol, numpy1_names)
    got, want = load_numpy_pickle(str(src)), megengine_state_dict(reference)
    assert list(got) == list(want)
    assert all(got[k].shape == want[k].shape and np.array_equal(got[k], want[k]) for k in want)


def test_converted_backbone_matches_reference(reference, tmp_path):
    """Exact check: the same weights in float64 on both sides (the converter keeps a
    float64 source float64), so only the conversion, not float32 rounding, can differ."""
    src = save_official(reference, tmp_path / 'res50_frelu.model', dtype=np.float64)
    checkpoint, _ = convert_funnelact_checkpoint(str(src), str(tmp_path / 'out.pth'))
    assert checkpoint['state_dict']['conv1.weight'].dtype == torch.float64
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    ref64 = copy.deepcopy(reference).double()
    assert_features_equal(ours_from(checkpoint, dtype=torch.float64), ref64, x, atol=1e-5)


def test_float32_file_matches_reference(reference, official_file):
    """The real file is float32: there the converted backbone may differ from the float32
    reference only by float32 rounding (folding moves one rounding step), which through
    16 random blocks reaches ~2e-5 of the feature scale; a wrong mapping gives O(1)."""
    checkpoint, _ = convert_funnelact_checkpoint(official_file)
    assert checkpoint['state_dict']['conv1.weight'].dtype == torch.float32
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    ours = ours_from(checkpoint)
    with torch.no_grad():
        for a, b in zip(ours(x), reference.extract_features(x)):
            assert (a - b).abs().max() <= 1e-4 * b.abs().max()


def test_structure_mismatch_is_detected(reference, official_file):
    """The comparison is sensitive: the stride on the 3x3 conv (style='pytorch') or a
    conv bias left out change the features."""
    official = megengine_state_dict(reference, np.float64)
    sd, _ = convert_funnelact_resnet(official)
    ref64 = copy.deepcopy(reference).double()
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2),
                    dtype=torch.float64)
    assert_features_equal(ours_from(dict(state_dict=sd), torch.float64), ref64, x)
    with pytest.raises(AssertionError):
        assert_features_equal(ours_from(dict(state_dict=sd), torch.float64, style='pytorch'),
                              ref64, x)
    del official['layer3.2.conv2.bias']
    sd, _ = convert_funnelact_resnet(official)
    with pytest.raises(AssertionError):
        assert_features_equal(ours_from(dict(state_dict=sd), torch.float64), ref64, x)


def test_report_maps_every_key_and_drops_the_classifier(official_file):
    official = load_numpy_pickle(official_file)
    checkpoint, report = convert_funnelact_checkpoint(official_file)
    assert set(report.dropped) == {'fc.weight', 'fc.bias'}
    accounted = set(report.mapped) | set(report.folded) | set(report.dropped)
    assert accounted == set(official)
    assert all(k.endswith('.bias') for k in report.folded)
    assert report.mapped['layer1.0.frelu1.conv_frelu.weight'] == 'layer1.0.act1.conv.weight'
    assert report.mapped['layer3.5.frelu3.bn_frelu.running_var'] == 'layer3.5.act3.norm.running_var'
    assert report.folded['layer2.0.downsample.0.bias'] == 'layer2.0.downsample.1.running_mean'
    assert report.folded['conv1.bias'] == 'bn1.running_mean'
    assert set(checkpoint['state_dict']) == set(report.mapped.values()) | set(report.added)
    assert not any(k.startswith('fc') for k in checkpoint['state_dict'])
    assert checkpoint['meta']['backbone'] == dict(
        type='ActResNet', depth=50, style='caffe', act_cfg=dict(type='FReLU'),
        act_stages=(True, True, True, False), stem_channels=WIDTH, base_channels=WIDTH)


def test_full_width_keys_match_actresnet50():
    """At the official width the converted keys and shapes are those of
    ActResNet(depth=50, style='caffe', act_cfg=dict(type='FReLU')) with its defaults."""
    torch.manual_seed(0)
    sd, _ = convert_funnelact_resnet(megengine_state_dict(OfficialResNet(width=64)))
    assert backbone_kwargs_for(sd) == dict(depth=50, style='caffe', act_cfg=dict(type='FReLU'),
                                           act_stages=(True, True, True, False))
    ours = ActResNet(depth=50, style='caffe', act_cfg=dict(type='FReLU')).state_dict()
    assert list(sorted(sd)) == list(sorted(ours))
    assert all(sd[k].shape == ours[k].shape for k in ours)
    load_strictly(sd, backbone_type='ActResNetV1b')  # mmseg's 7x7-stem ResNet takes it too


def test_pretrained_init_cfg_and_v1b(reference, tmp_path):
    src = save_official(reference, tmp_path / 'res50_frelu.model', dtype=np.float64)
    dst = str(tmp_path / 'res50_frelu_mm.pth')
    convert_funnelact_checkpoint(str(src), dst)
    ref64 = copy.deepcopy(reference).double()
    kwargs = dict(depth=50, style='caffe', act_cfg=dict(type='FReLU'), stem_channels=WIDTH,
                  base_channels=WIDTH, init_cfg=dict(type='Pretrained', checkpoint=dst))
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3),
                    dtype=torch.float64)
    for cls in (ActResNet, ActResNetV1b):
        backbone = cls(**kwargs).double()
        backbone.init_weights()  # FReLU's own init_weights must not undo the weights
        backbone.eval()
        assert_features_equal(backbone, ref64, x)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / 'pwned'

    class Exploit:

        def __reduce__(self):
            return (os.system, (f'touch {marker}', ))

    path = tmp_path / 'evil.model'
    path.write_bytes(pickle.dumps(OrderedDict(conv1=Exploit()), protocol=3))
    with pytest.raises(RefusedGlobalError, match=r'refused global (posix|os|nt)\.system'):
        load_numpy_pickle(str(path))
    with pytest.raises(RefusedGlobalError, match='system'):
        convert_funnelact_checkpoint(str(path))
    assert not marker.exists()

    class EvalExploit:

        def __reduce__(self):
            return (eval, (f"open({str(marker)!r}, 'w')", ))

    with pytest.raises(RefusedGlobalError, match=r'builtins\.eval'):
        load_numpy_pickle(pickle.dumps([np.zeros(2), EvalExploit()]))
    assert not marker.exists()


@pytest.mark.parametrize('content,message', [
    (pickle.dumps([np.zeros(3)]), 'not a dict'),
    (pickle.dumps({'conv1.weight': 1.0}), 'not a numpy array'),
    (pickle.dumps({'backbone.conv1.weight': np.zeros((1, 3, 7, 7), np.float32)}), 'missing'),
    (b'not a pickle at all', 'not a readable pickle'),
])
def test_not_a_checkpoint_gives_clear_errors(tmp_path, content, message):
    path = tmp_path / 'x.model'
    path.write_bytes(content)
    with pytest.raises((ValueError, pickle.UnpicklingError), match=message):
        convert_funnelact_checkpoint(str(path))


def test_torch_checkpoint_and_unknown_keys_are_rejected(tmp_path, reference):
    torch.save({'state_dict': {}}, tmp_path / 'torch.pth')
    with pytest.raises(pickle.UnpicklingError, match='zip archive'):
        load_numpy_pickle(str(tmp_path / 'torch.pth'))
    sd = megengine_state_dict(reference)
    sd['layer1.0.se.fc.weight'] = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match=r'layer1\.0\.se\.fc\.weight'):
        convert_funnelact_resnet(sd)
