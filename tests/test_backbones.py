"""The act_cfg ResNets: twins of their hosts, FReLU placement, ReLU-weight loading."""
import pytest
import torch
from mmdet.models.backbones import ResNet as DetResNet
from mmseg.models.backbones import ResNet as SegResNetV1b
from mmseg.models.backbones import ResNetV1c as SegResNetV1c
from mmseg.models.backbones import ResNetV1d as SegResNetV1d
from torch.nn.modules.batchnorm import _BatchNorm

from frelu_mm import FReLU
from frelu_mm.models import ActResNet, ActResNetV1b, ActResNetV1c, ActResNetV1d

TINY = dict(base_channels=2, stem_channels=8)
PAIRS = [(ActResNet, DetResNet), (ActResNetV1b, SegResNetV1b),
         (ActResNetV1c, SegResNetV1c), (ActResNetV1d, SegResNetV1d)]
FRELU = dict(type='FReLU')


def count_frelu(model):
    return sum(isinstance(m, FReLU) for m in model.modules())


def randomise_bn_stats(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


@pytest.mark.parametrize('ours,host', PAIRS)
@pytest.mark.parametrize('depth', [18, 50])
def test_relu_twin_of_host(ours, host, depth):
    torch.manual_seed(0)
    ref = host(depth=depth, **TINY)
    ref.init_weights()
    randomise_bn_stats(ref)
    twin = ours(depth=depth, act_cfg=dict(type='ReLU'), **TINY)
    assert list(twin.state_dict()) == list(ref.state_dict())
    twin.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    for mode in (False, True):
        ref.train(mode), twin.train(mode)
        for a, b in zip(ref(x), twin(x)):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('ours,host', PAIRS)
def test_frozen_stages_and_norm_eval_as_host(ours, host):
    kwargs = dict(depth=50, frozen_stages=2, norm_eval=True, **TINY)
    ref, twin = host(**kwargs), ours(act_cfg=FRELU, **kwargs)
    ref.train(), twin.train()
    host_state = {n: (p.requires_grad) for n, p in ref.named_parameters()}
    for name, p in twin.named_parameters():
        if name in host_state:
            assert p.requires_grad == host_state[name], name
        elif name.startswith(('layer1.', 'layer2.')):
            assert not p.requires_grad, f'{name} in a frozen stage must be frozen'
        else:
            assert p.requires_grad, name
    # norm_eval: every BN of the backbone is in eval mode, FReLU's own BN included
    assert not any(m.training for m in twin.modules() if isinstance(m, _BatchNorm))
    assert count_frelu(twin) > 0


def test_norm_eval_false_trains_frelu_norms():
    net = ActResNet(depth=50, act_cfg=FRELU, norm_eval=False, **TINY)
    net.train()
    assert all(f.norm.training for f in net.modules() if isinstance(f, FReLU))


@pytest.mark.parametrize('ours', [ActResNet, ActResNetV1c])
def test_default_placement_is_official_resnet50_frelu(ours):
    net = ours(depth=50, act_cfg=FRELU, **TINY)
    assert count_frelu(net) == 3 * (3 + 4 + 6) == 39
    assert count_frelu(net.layer4) == 0
    for i, layer in enumerate([net.layer1, net.layer2, net.layer3]):
        planes = TINY['base_channels'] * 2**i
        for block in layer:
            assert (block.act1.in_channels, block.act2.in_channels,
                    block.act3.in_channels) == (planes, planes, planes * 4)
    in_layers = sum(count_frelu(getattr(net, f'layer{i}')) for i in range(1, 5))
    assert in_layers == count_frelu(net), 'the stem must keep ReLU'
    net(torch.randn(2, 3, 32, 32))[-1].sum().backward()


@pytest.mark.parametrize('stages,sites,expected', [
    ((False, True, False, False), None, 3 * 4),
    ((True, True, True, False), ('conv1', 'out'), 2 * 13),
    ((True, True, True, False), ('conv2', ), 13),
    ((True, True, True, True), 'out', 16),
])
def test_stage_and_site_options(stages, sites, expected):
    net = ActResNet(depth=50, act_cfg=FRELU, act_stages=stages, act_sites=sites, **TINY)
    assert count_frelu(net) == expected


def test_basic_block_sites_and_stem_activation():
    net = ActResNetV1c(depth=18, act_cfg=FRELU, stem_act_cfg=dict(type='Swish'), **TINY)
    assert count_frelu(net) == 2 * (2 + 2 + 2)
    from mmcv.cnn.bricks import Swish
    assert sum(isinstance(m, Swish) for m in net.stem) == 3
    det = ActResNet(depth=18, act_cfg=FRELU, stem_act_cfg=FRELU, **TINY)
    assert isinstance(det.relu, FReLU) and det.relu.in_channels == 8
    det(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize('kwargs,match', [
    (dict(act_sites=('conv3', )), 'unknown act_sites'),
    (dict(act_stages=(True, True)), 'one bool per stage'),
])
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ActResNet(depth=50, act_cfg=FRELU, **TINY, **kwargs)


def test_with_cp_matches_plain():
    torch.manual_seed(0)
    a = ActResNet(depth=50, act_cfg=FRELU, with_cp=True, **TINY)
    b = ActResNet(depth=50, act_cfg=FRELU, with_cp=False, **TINY)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    ga = torch.autograd.grad(a(x)[-1].sum(), x)[0]
    gb = torch.autograd.grad(b(x)[-1].sum(), x)[0]
    torch.testing.assert_close(ga, gb)


@pytest.mark.parametrize('ours,host', [(ActResNet, DetResNet), (ActResNetV1c, SegResNetV1c)])
def test_frelu_backbone_from_relu_weights(tmp_path, ours, host):
    torch.manual_seed(0)
    relu_net = host(depth=50, **TINY)
    relu_net.init_weights()
    randomise_bn_stats(relu_net)
    ckpt = tmp_path / 'relu_imagenet.pth'
    torch.save({'state_dict': relu_net.state_dict()}, ckpt)

    frelu_net = ours(depth=50, act_cfg=dict(type='FReLU', relu_init=True),
                     init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)), **TINY)
    missing, unexpected = frelu_net.load_state_dict(relu_net.state_dict(), strict=False)
    assert not unexpected
    assert missing and all('.act' in k for k in missing)
    assert len({k.rsplit('.', 2)[0] for k in missing}) == 39

    frelu_net.init_weights()  # the runner's path: init_cfg Pretrained loads the file
    x = torch.randn(2, 3, 32, 32)
    relu_net.eval(), frelu_net.eval()
    for a, b in zip(relu_net(x), frelu_net(x)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('num_stages,expected', [(1, (True, )), (2, (True, True)),
                                                 (3, (True, True, True)),
                                                 (4, (True, True, True, False))])
def test_default_act_stages_follow_num_stages(num_stages, expected):
    kwargs = dict(depth=50, num_stages=num_stages, strides=(1, 2, 2, 2)[:num_stages],
                  dilations=(1, ) * num_stages, out_indices=(num_stages - 1, ), **TINY)
    net = ActResNetV1c(act_cfg=FRELU, **kwargs)
    assert net.act_stages == expected
    assert count_frelu(net) == 3 * sum((3, 4, 6, 3)[i] for i in range(num_stages) if expected[i])


def test_seg_resnext_relu_twin_of_host():
    """mmseg's ResNeXt (no shipped config uses it): keys, init and outputs of the host."""
    from mmseg.models.backbones import ResNeXt as SegResNeXt

    from frelu_mm.models.backbones import ActSegResNeXt
    kwargs = dict(depth=50, groups=2, base_width=4, base_channels=4, stem_channels=8)
    torch.manual_seed(0)
    ref = SegResNeXt(**kwargs)
    torch.manual_seed(0)
    twin = ActSegResNeXt(act_cfg=dict(type='ReLU'), **kwargs)
    assert list(twin.state_dict()) == list(ref.state_dict())
    randomise_bn_stats(ref)
    twin.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    ref.eval(), twin.eval()
    for a, b in zip(ref(x), twin(x)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    frelu = ActSegResNeXt(act_cfg=FRELU, **kwargs)
    widths = [(b.act1.in_channels, b.act2.in_channels, b.act3.in_channels) for b in frelu.layer1]
    assert widths[0] == (8, 8, 16)  # grouped width floor(4 * 4 / 4) * 2 inside, planes * 4 out
