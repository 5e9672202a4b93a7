"""FReLU built through OpenMMLab's registries, ConvModule, heads and necks."""
import itertools

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule, build_activation_layer
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope

from frelu_mm import FReLU


def frelus(model):
    return [m for m in model.modules() if isinstance(m, FReLU)]


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', None])
def test_build_from_registry_under_each_scope(scope):
    import mmdet.registry  # noqa: F401  (creates the child registries)
    import mmseg.registry  # noqa: F401
    cfg = dict(type='FReLU', in_channels=6, inplace=True)
    if scope is None:
        act = build_activation_layer(cfg)
    else:
        with DefaultScope.overwrite_default_scope(scope):
            act = build_activation_layer(cfg)
    assert isinstance(act, FReLU) and act.in_channels == 6


def test_child_registries_see_frelu():
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    for registry in (DET_MODELS, SEG_MODELS):
        assert registry.get('FReLU') is FReLU


@pytest.mark.parametrize('order', list(itertools.permutations(('conv', 'norm', 'act'))))
def test_conv_module_gives_the_width_the_activation_sees(order):
    m = ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type='BN'), act_cfg=dict(type='FReLU'),
                   order=order)
    conv_first = order.index('conv') < order.index('act')
    expected = 8 if conv_first else 3
    assert m.activate.in_channels == expected
    # the norm's width follows the same rule in mmcv: both must run together
    m(torch.randn(2, 3, 5, 5)).sum().backward()


def test_conv_module_positional_and_explicit_channels():
    m = ConvModule(3, 8, 3, 1, 1, 1, 1, 'auto', None, None, dict(type='FReLU'))
    assert m.activate.in_channels == 8
    m = ConvModule(3, 8, 1, act_cfg=dict(type='FReLU', in_channels=8, kernel_size=5))
    assert m.activate.in_channels == 8 and m.activate.kernel_size == 5
    with pytest.raises(ValueError, match='expects'):
        ConvModule(3, 8, 1, act_cfg=dict(type='FReLU', in_channels=3))(torch.randn(1, 3, 4, 4))


def test_depthwise_separable_conv_module():
    m = DepthwiseSeparableConvModule(4, 12, 3, padding=1, norm_cfg=dict(type='BN'),
                                     act_cfg=dict(type='FReLU'))
    assert m.depthwise_conv.activate.in_channels == 4
    assert m.pointwise_conv.activate.in_channels == 12
    assert m(torch.randn(1, 4, 6, 6)).shape == (1, 12, 6, 6)


def test_mmseg_heads_decode_and_auxiliary():
    from mmseg.models.decode_heads import FCNHead, PSPHead
    psp = PSPHead(in_channels=16, channels=8, num_classes=3, pool_scales=(1, 2),
                  act_cfg=dict(type='FReLU'))
    aux = FCNHead(in_channels=12, channels=6, num_classes=3, num_convs=2,
                  concat_input=True, act_cfg=dict(type='FReLU'))
    widths = sorted(f.in_channels for f in frelus(psp))
    assert widths == [8, 8, 8]  # two pool branches and the bottleneck
    assert sorted(f.in_channels for f in frelus(aux)) == [6, 6, 6]
    psp.eval(), aux.eval()
    assert psp([torch.randn(1, 16, 8, 8)]).shape == (1, 3, 8, 8)
    assert aux([torch.randn(1, 12, 8, 8)]).shape == (1, 3, 8, 8)


def test_mmdet_fpn_with_act_cfg():
    from mmdet.models.necks import FPN
    fpn = FPN(in_channels=[4, 8], out_channels=6, num_outs=2, act_cfg=dict(type='FReLU'))
    assert [f.in_channels for f in frelus(fpn)] == [6] * 4
    outs = fpn([torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4)])
    assert [o.shape[1] for o in outs] == [6, 6]


def test_mmdet_resnet_plugin_hosts_frelu():
    from mmdet.models.backbones import ResNet
    net = ResNet(50, base_channels=2, stem_channels=4, out_indices=(0, ),
                 num_stages=1, strides=(1, ), dilations=(1, ),
                 plugins=[dict(cfg=dict(type='FReLU'), position='after_conv2')])
    found = frelus(net)
    assert len(found) == 3 and all(f.in_channels == 2 for f in found)
    assert net(torch.randn(1, 3, 16, 16))[0].shape == (1, 8, 4, 4)


def test_unknown_width_fails_at_build_with_hint():
    with pytest.raises(ValueError, match=r"act_cfg=dict\(type='FReLU', in_channels=256\)"):
        build_activation_layer(dict(type='FReLU'))
    with pytest.raises(ValueError, match='in_channels'):
        nn.Sequential(build_activation_layer(dict(type='FReLU', inplace=True)))


class HostWithInit(BaseModule):
    """A host module whose init_cfg reaches every Conv2d and norm below it."""

    def __init__(self, relu_init):
        super().__init__(init_cfg=dict(type='Constant', val=0.5, bias=0.5,
                                       layer=['Conv2d', '_BatchNorm']))
        self.direct = FReLU(16, relu_init=relu_init, bias=True)
        self.in_conv_module = ConvModule(
            16, 16, 1, act_cfg=dict(type='FReLU', relu_init=relu_init, bias=True))


@pytest.mark.parametrize('relu_init', [False, True])
def test_init_survives_a_host_init_cfg(relu_init):
    torch.manual_seed(0)
    host = HostWithInit(relu_init)
    host.init_weights()
    for f in (host.direct, host.in_conv_module.activate):
        assert not torch.all(f.conv.weight == 0.5), 'host init reached FReLU conv'
        assert torch.all(f.conv.bias == 0)
        assert torch.all(f.norm.bias == 0)
        assert torch.all(f.norm.weight == (0 if relu_init else 1))
    if relu_init:
        x = torch.randn(1, 16, 4, 4)
        host.eval()
        torch.testing.assert_close(host.direct(x), torch.relu(x))
