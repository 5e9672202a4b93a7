"""Stretch: ShuffleNetV2 with the light FReLU, and its FunnelAct converter.

``OfficialShuffleNetV2`` re-implements FunnelAct's ``shufflenetv2/shufflenet_v2.py``
and ``frelu_light.py`` in plain PyTorch (its channel shuffle written as the official
reshape / transpose / reshape); weights are random with calibrated-then-perturbed BN
statistics, saved as MegEngine's state dict would be (see test_convert_funnelact.py
for the pickle assumption), converted, and compared with ``ShuffleNetV2FReLU``.
"""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from frelu_mm.converters import convert_funnelact_checkpoint
from frelu_mm.converters.funnelact_shufflenet import convert_funnelact_shufflenet
from frelu_mm.models.backbones.shufflenet_v2_frelu import ShuffleNetV2FReLU
from test_convert_funnelact import megengine_state_dict  # same MegEngine layout


class OfficialLightFReLU(nn.Module):

    def __init__(self, c):
        super().__init__()
        self.conv_frelu1 = nn.Conv2d(c, c, (1, 3), 1, (0, 1), groups=c, bias=False)
        self.conv_frelu2 = nn.Conv2d(c, c, (3, 1), 1, (1, 0), groups=c, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.maximum(x, self.bn1(self.conv_frelu1(x)) + self.bn2(self.conv_frelu2(x)))


class OfficialBlock(nn.Module):

    def __init__(self, inp, oup, mid, stride):
        super().__init__()
        self.stride = stride
        out = oup - inp
        self.branch_main = nn.Sequential(
            nn.Conv2d(inp, mid, 1, 1, 0, bias=False), nn.BatchNorm2d(mid), OfficialLightFReLU(mid),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
            nn.Conv2d(mid, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out), OfficialLightFReLU(out))
        self.branch_proj = None if stride == 1 else nn.Sequential(
            nn.Conv2d(inp, inp, 3, 2, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
            nn.Conv2d(inp, inp, 1, 1, 0, bias=False), nn.BatchNorm2d(inp), OfficialLightFReLU(inp))

    def forward(self, x):
        if self.stride == 2:
            return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)
        b, c, h, w = x.shape
        x = x.reshape(b * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, -1, c // 2, h, w)
        return torch.cat((x[0], self.branch_main(x[1])), 1)


class OfficialShuffleNetV2(nn.Module):
    """The official 0.5x net: stage widths 24, 48, 96, 192, 1024."""

    def __init__(self, channels=(24, 48, 96, 192, 1024), num_classes=10):
        super().__init__()
        width = channels[0]
        self.first_conv = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False),
                                        nn.BatchNorm2d(width), OfficialLightFReLU(width))
        blocks = []
        for repeats, out in zip((4, 8, 4), channels[1:4]):
            for i in range(repeats):
                blocks.append(OfficialBlock(width if i == 0 else width // 2, out, out // 2,
                                            2 if i == 0 else 1))
                width = out
        self.features = nn.Sequential(*blocks)
        self.conv_last = nn.Sequential(nn.Conv2d(width, channels[4], 1, 1, 0, bias=False),
                                       nn.BatchNorm2d(channels[4]), OfficialLightFReLU(channels[4]))
        self.classifier = nn.Sequential(nn.Linear(channels[4], num_classes, bias=False))

    def extract_features(self, x):
        x = F.max_pool2d(self.first_conv(x), 3, 2, 1)
        outs = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in (3, 11, 15):
                outs.append(x)
        return outs + [self.conv_last(x)]


@torch.no_grad()
def make_reference(seed=0):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = OfficialShuffleNetV2()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.5)
        m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
        m.momentum = None
    net.train()
    for _ in range(2):
        net.extract_features(torch.randn(2, 3, 64, 64, generator=g))
    for m in bns:
        m.running_mean.add_(torch.randn(m.running_mean.shape, generator=g) * 0.05)
        m.running_var.mul_(torch.rand(m.running_var.shape, generator=g) * 0.4 + 0.8)
    return net.eval()



@pytest.fixture(scope='module')
def reference():
    return make_reference()


def test_converted_shufflenet_matches_reference(reference, tmp_path):
    src = tmp_path / 'shufflenetv2_0.5x.model'
    src.write_bytes(pickle.dumps(megengine_state_dict(reference, np.float64), protocol=3))
    checkpoint, report = convert_funnelact_checkpoint(str(src), str(tmp_path / 'out.pth'))
    assert checkpoint['meta']['backbone'] == dict(
        type='ShuffleNetV2FReLU', widen='0.5x',
        act_cfg=dict(type='FReLU', condition='factorized_sum'))
    assert report.dropped == ['classifier.0.weight'] and not report.folded
    assert report.mapped['features.4.branch_main.2.conv_frelu2.weight'] == \
        'features.4.branch_main.2.conv2.weight'
    assert report.mapped['conv_last.2.bn1.running_mean'] == 'conv_last.2.norm.running_mean'
    ours = ShuffleNetV2FReLU().double()
    ours.load_state_dict(checkpoint['state_dict'], strict=True)
    ours.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        got, want = ours(x), copy.deepcopy(reference).double().extract_features(x)
    assert [t.shape[1] for t in got] == [48, 96, 192, 1024]
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)

    # sensitive: swapping the 1x3 and 3x1 convs' BNs changes the features
    sd = OrderedDict(checkpoint['state_dict'])
    p = 'features.5.branch_main.2.'
    for t in ('weight', 'bias', 'running_mean', 'running_var'):
        sd[p + 'norm.' + t], sd[p + 'norm2.' + t] = sd[p + 'norm2.' + t], sd[p + 'norm.' + t]
    ours.load_state_dict(sd, strict=True)
    with torch.no_grad():
        assert not torch.allclose(ours(x)[1], want[1], atol=1e-5)


def test_shufflenet_backbone_options():
    m = ShuffleNetV2FReLU(out_indices=(1, 3), frozen_stages=1, norm_eval=True)
    m.train()
    assert not m.first_conv[0].weight.requires_grad
    assert not m.features[3].branch_main[0].weight.requires_grad
    assert m.features[4].branch_main[0].weight.requires_grad
    assert not m.features[4].branch_main[1].training  # norm_eval
    outs = m(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [96, 1024]
    relu = ShuffleNetV2FReLU(act_cfg=dict(type='ReLU'))
    assert not any('conv2' in k for k in relu.state_dict())


def test_unknown_shufflenet_keys_are_rejected(reference):
    sd = megengine_state_dict(reference)
    sd['features.0.se.weight'] = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match='features.0.se.weight'):
        convert_funnelact_shufflenet(sd)


def test_shufflenet_exports_to_onnx(reference, tmp_path):
    from frelu_mm.converters import (TensorForward, compare_with_onnxruntime, export_onnx,
                                     prepare_for_export)
    sd, _ = convert_funnelact_shufflenet(megengine_state_dict(reference))
    model = ShuffleNetV2FReLU()
    model.load_state_dict(sd, strict=True)
    model.eval()
    unfused = TensorForward(copy.deepcopy(model))
    model, _ = prepare_for_export(model)
    path = str(tmp_path / 'shufflenet.onnx')
    export_onnx(TensorForward(model), torch.randn(1, 3, 64, 64), path)
    diff, scale = compare_with_onnxruntime(unfused, path, [torch.randn(1, 3, 64, 64)])
    assert diff <= 1e-4 * max(1.0, scale), (diff, scale)
