"""Fused inference and the lean backward equal the plain FReLU."""
import itertools

import pytest
import torch
import torch.nn as nn
from autograd_graph import grad_fn_names
from mmcv.cnn import ConvModule

from frelu_mm import FReLU, fuse_frelu
from frelu_mm.layers.lean_frelu import supports_lean
from frelu_mm.layers.norm_act import norm_act
from frelu_mm.models import ActResNet

TINY = dict(depth=50, base_channels=4, stem_channels=8)


def randomise(model, seed=0):
    """Random weights, affines and running statistics everywhere."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def set_lean(model, enabled):
    for m in model.modules():
        if isinstance(m, FReLU):
            m.lean_backward = enabled


def assert_rel_close(a, b, rel=1e-5):
    err = (a - b).abs().max().item()
    assert err <= rel * max(b.abs().max().item(), 1e-12), f'max abs err {err}'


# ---------------------------------------------------------------- fused inference

@pytest.mark.parametrize('memory_format', [None, torch.channels_last])
def test_fused_backbone_equals_unfused(memory_format):
    torch.manual_seed(0)
    model = randomise(ActResNet(act_cfg=dict(type='FReLU', bias=True), **TINY))
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
    assert fuse_frelu(model, memory_format=memory_format) is model
    frelus = [m for m in model.modules() if isinstance(m, FReLU)]
    assert len(frelus) == 39
    assert all(isinstance(m.norm, nn.Identity) and m.conv.bias is not None for m in frelus)
    if memory_format is not None:
        assert frelus[0].conv.weight.is_contiguous(memory_format=memory_format)
    with torch.no_grad():
        got = model(x)
    for a, b in zip(got, want):
        assert_rel_close(a, b)


def test_fused_convmodule_head_equals_unfused():
    torch.manual_seed(0)
    head = nn.Sequential(
        ConvModule(8, 16, 3, padding=1, norm_cfg=dict(type='BN'), act_cfg=dict(type='FReLU')),
        ConvModule(16, 16, 1, norm_cfg=dict(type='BN'),
                   act_cfg=dict(type='FReLU', condition='factorized_max', kernel_size=5)),
        ConvModule(16, 4, 3, padding=1, act_cfg=dict(type='FReLU', with_identity=False)))
    randomise(head, seed=1).eval()
    x = torch.randn(2, 8, 12, 10)
    with torch.no_grad():
        want = head(x)
        got = fuse_frelu(head)(x)
    assert_rel_close(got, want)
    assert isinstance(head[1].activate.norm2, nn.Identity)


def test_fuse_leaves_unfoldable_norms_alone():
    torch.manual_seed(0)
    layers = nn.ModuleList([
        FReLU(4, norm_cfg=dict(type='GN', num_groups=2)), FReLU(4, norm_cfg=dict(type='IN')),
        FReLU(4, condition='avgpool'), FReLU(4)])  # the last stays in train mode
    randomise(layers)
    layers[:3].eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        want = [m(x) for m in layers]
    kinds = [type(m.norm) for m in layers]
    fuse_frelu(layers, memory_format=None)
    assert [type(m.norm) for m in layers] == kinds
    with torch.no_grad():
        for m, w in zip(layers[:3], want):
            torch.testing.assert_close(m(x), w)


# ---------------------------------------------------------------- lean backward

LEAN_OPTIONS = list(itertools.product(
    (dict(type='BN'), None),  # norm
    (True, False),            # with_identity
    (False, True),            # bias
    (1, 3, 5),                # kernel
    (True, False),            # train mode
))


def make(norm, identity, bias, kernel, train, channels=3):
    m = FReLU(channels, kernel_size=kernel, norm_cfg=norm, with_identity=identity,
              bias=bias).double()
    randomise(m, seed=kernel)
    m.train(train)
    assert supports_lean(m)
    return m


@pytest.mark.parametrize('norm,identity,bias,train',
                         itertools.product((dict(type='BN'), None), (True, False), (False, True),
                                           (True, False)))
def test_lean_gradcheck_float64(norm, identity, bias, train):
    m = make(norm, identity, bias, 3, train)
    x = torch.randn(1, 3, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp, *ps: m(inp), (x, *m.parameters()))


@pytest.mark.parametrize('norm,identity,bias,kernel,train', LEAN_OPTIONS)
def test_lean_equals_plain(norm, identity, bias, kernel, train):
    m = make(norm, identity, bias, kernel, train)
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    params = list(m.parameters())
    state = {k: v.clone() for k, v in m.state_dict().items()}

    results = []
    for lean in (True, False):
        m.load_state_dict(state)
        m.lean_backward = lean
        y = m(x)
        assert ('LeanFReLU' in type(y.grad_fn).__name__) == lean
        up = torch.randn(y.shape, generator=torch.Generator().manual_seed(3), dtype=y.dtype)
        grads = torch.autograd.grad(y, [x] + params, up)
        results.append((y, grads, {k: v.clone() for k, v in m.state_dict().items()}))
    (y1, g1, s1), (y2, g2, s2) = results
    torch.testing.assert_close(y1, y2, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    for k in s1:  # running statistics and num_batches_tracked updated once, alike
        torch.testing.assert_close(s1[k], s2[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('identity', [True, False])
def test_lean_splits_ties_like_torch_maximum(identity):
    m = FReLU(3, relu_init=True, with_identity=identity).double()  # T(x) == 0 exactly
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    x[:, :, :2] = 0  # ties with identity; without identity every pixel ties max(0, 0)
    grads = []
    for lean in (True, False):
        m.lean_backward = lean
        xi = x.clone().requires_grad_()
        y = m(xi)
        grads.append(torch.autograd.grad(y, [xi] + list(m.parameters()), torch.ones_like(y)))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.all(grads[0][0][:, :, :2] == 0.5) if identity else True


def test_momentum_none_cumulative_average_like_bn():
    m = FReLU(3, norm_cfg=dict(type='BN', momentum=None)).double()
    plain = FReLU(3, norm_cfg=dict(type='BN', momentum=None)).double()
    plain.load_state_dict(m.state_dict())
    plain.lean_backward = False
    for _ in range(3):
        x = torch.randn(2, 3, 5, 5, dtype=torch.float64, requires_grad=True)
        m(x).sum().backward()
        plain(x).sum().backward()
    for k, v in m.state_dict().items():
        torch.testing.assert_close(v, plain.state_dict()[k])


def test_lean_keeps_only_x_for_backward():
    m = FReLU(16)
    x = torch.randn(2, 16, 32, 32, requires_grad=True)

    def saved_bytes(lean):
        m.lean_backward = lean
        sizes = []

        def pack(t):
            sizes.append(t.numel() * t.element_size())
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            m(x)
        return sum(s for s in sizes if s >= x.numel())  # activation-sized tensors
    act = x.numel() * x.element_size()
    assert saved_bytes(True) == act
    assert saved_bytes(False) >= 3 * act


def test_unsupported_options_use_the_plain_graph():
    for kwargs in (dict(norm_cfg=dict(type='GN', num_groups=2)), dict(condition='maxpool'),
                   dict(combine='sum'), dict(condition='factorized_sum')):
        m = FReLU(4, **kwargs)
        assert not supports_lean(m)
        y = m(torch.randn(1, 4, 5, 5, requires_grad=True))
        assert 'LeanFReLU' not in type(y.grad_fn).__name__


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
def test_lean_backbone_grads_equal_plain(memory_format):
    torch.manual_seed(0)
    model = ActResNet(act_cfg=dict(type='FReLU'), **TINY).double()
    randomise(model)
    model.train()
    model.to(memory_format=memory_format)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64).contiguous(memory_format=memory_format)
    results = []
    for lean in (True, False):
        model.load_state_dict(state)
        set_lean(model, lean)
        model.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        outs = model(xi)
        sum((o * (i + 1)).sin().sum() for i, o in enumerate(outs)).backward()
        results.append([xi.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


# ------------------------------------------------- norm + FReLU in one Function

@pytest.mark.parametrize('identity,host_train,frelu_norm',
                         itertools.product((False, True), (True, False), (dict(type='BN'), None)))
def test_lean_norm_frelu_gradcheck_float64(identity, host_train, frelu_norm):
    torch.manual_seed(0)
    norm = randomise(nn.BatchNorm2d(3).double()).train(host_train)
    m = make(frelu_norm, True, True, 3, True)
    c = torch.randn(2, 3, 4, 3, dtype=torch.float64, requires_grad=True)
    res = torch.randn(2, 3, 4, 3, dtype=torch.float64, requires_grad=True)
    inputs = (c, res, norm.weight, norm.bias, *m.parameters())

    def f(c, res, *params):
        return norm_act(norm, m, c, res if identity else None)
    y = f(*inputs)
    assert 'LeanNormFReLU' in type(y.grad_fn).__name__
    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize('norm_eval', [False, True])
def test_lean_norm_path_in_backbone_equals_plain(norm_eval):
    """Every FReLU of a ResNet-50 goes through the norm + FReLU Function, with the
    host norms in train mode or frozen (norm_eval), and the gradients, outputs and
    running statistics equal the plain graph's."""
    torch.manual_seed(0)
    model = ActResNet(act_cfg=dict(type='FReLU'), norm_eval=norm_eval, **TINY).double()
    randomise(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    results = []
    for lean in (True, False):
        model.load_state_dict(state)
        model.train()
        set_lean(model, lean)
        model.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        outs = model(xi)
        names = grad_fn_names(outs[-1])
        assert names.count('_LeanNormFReLUBackward') == (39 if lean else 0)
        sum((o * (i + 1)).sin().sum() for i, o in enumerate(outs)).backward()
        results.append(([o.detach() for o in outs], [xi.grad] + [p.grad for p in model.parameters()],
                        {k: v.clone() for k, v in model.state_dict().items()}))
    (o1, g1, s1), (o2, g2, s2) = results
    for a, b in zip(o1 + g1, o2 + g2):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    for k in s1:
        torch.testing.assert_close(s1[k], s2[k], rtol=1e-12, atol=1e-12)


def saved_activation_bytes(model, x, min_numel):
    """Bytes of distinct tensors of at least ``min_numel`` elements that autograd keeps
    for ``model(x)``'s backward (a tensor kept by several nodes counts once), and the
    output (which the next layer's conv keeps)."""
    storages = {}

    def pack(t):
        if t.numel() >= min_numel:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    storages[out.untyped_storage().data_ptr()] = out.untyped_storage().nbytes()
    return sum(storages.values())


def test_frelu_sites_keep_no_more_than_relu_sites():
    """A ResNet block with FReLU at its three sites keeps as many activation-sized
    tensors for backward as with ReLU (the plain FReLU graph keeps about twice as
    many), also in the first block, whose downsample branch's norm the residual FReLU
    applies itself, keeping that norm's input (as the norm would) instead of the
    branch's output (which ReLU's add does not keep)."""
    torch.manual_seed(0)
    x = torch.randn(2, 16, 16, 16, requires_grad=True)
    kept = {}
    for name, act, lean in (('relu', dict(type='ReLU'), True),
                            ('frelu', dict(type='FReLU'), True),
                            ('plain', dict(type='FReLU'), False)):
        model = ActResNet(depth=50, base_channels=4, stem_channels=8, act_cfg=act)
        set_lean(model, lean)
        model.train()
        block = model.layer1[1]  # no downsample: the identity is the block's input
        kept[name] = saved_activation_bytes(block, x, min_numel=x.numel() // 4)
        first = model.layer1[0]
        kept[name + '_ds'] = saved_activation_bytes(first, torch.randn(2, 8, 16, 16), 2 * 16 * 16)
    assert kept['frelu'] == kept['relu'], kept
    assert kept['plain'] >= 1.8 * kept['relu'], kept
    assert kept['frelu_ds'] == kept['relu_ds'], kept


def test_downsample_hook_still_sees_its_output():
    """A hook on a block's downsample (or a backward hook on its norm) keeps the whole
    branch a module call (the lean Function then takes the branch's output); the
    gradients stay the same."""
    torch.manual_seed(0)
    model = ActResNet(act_cfg=dict(type='FReLU'), **TINY).double()
    model.train()  # mmdet's ResNet.train() returns None
    block, seen = model.layer1[0], []
    x = torch.randn(2, 8, 8, 8, dtype=torch.float64, requires_grad=True)
    grads = []
    for hooked in (False, 'forward', 'backward'):
        handle = None
        if hooked == 'forward':
            handle = block.downsample.register_forward_hook(lambda m, i, o: seen.append(o.shape))
        elif hooked == 'backward':
            handle = block.downsample[-1].register_full_backward_hook(
                lambda m, gi, go: seen.append(go[0].shape))
        block.zero_grad(set_to_none=True)
        y = block(x)
        assert grad_fn_names(y).count('_LeanNormFReLUBackward') == 3
        grads.append(torch.autograd.grad(y.sin().sum(), [x] + list(block.parameters())))
        if handle is not None:
            handle.remove()
    assert seen == [torch.Size([2, 16, 8, 8])] * 2
    for hooked in grads[1:]:
        for a, b in zip(grads[0], hooked):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


class _SplitSpy:
    """Counts the training backward's calls into the C++ gradient split."""

    def __init__(self, monkeypatch):
        from frelu_mm.layers import lean_frelu as lean_module
        self.calls = []
        real = lean_module.split_ops

        def spy(*tensors):
            ops = real(*tensors)
            if ops is not None:
                self.calls.append(len(tensors))
            return ops
        monkeypatch.setattr(lean_module, 'split_ops', spy)


@pytest.mark.parametrize('kernel', [1, 3, 5, 7])
@pytest.mark.parametrize('identity', [True, False])
@pytest.mark.parametrize('memory_format', [torch.contiguous_format])
@pytest.mark.parametrize('train', [True, False])
def test_lean_kernel_split_float32_equals_plain(kernel, identity, memory_format, train,
                                                monkeypatch):
    """float32: the one-pass C++ gradient split gives autograd's gradients (plain graph).
    (Channels-last float32 with a norm takes the whole-condition C++ path instead:
    ``test_fused_kernel.test_lean_kernel_path_equals_float64_plain``.)"""
    from frelu_mm.layers import fused_kernel
    fused_kernel.load_kernel(raise_errors=True)
    spy = _SplitSpy(monkeypatch)
    m = FReLU(16, kernel_size=kernel, with_identity=identity)
    randomise(m, seed=kernel)
    m.train(train)
    m = m.to(memory_format=memory_format)
    x = torch.randn(2, 16, 9, 7).contiguous(memory_format=memory_format)
    x[:, :, :2] = 0  # without identity and with T == 0 nowhere, ties only with identity
    state = {k: v.clone() for k, v in m.state_dict().items()}
    up = torch.randn(2, 16, 9, 7).contiguous(memory_format=memory_format)
    results = []
    for lean in (True, False):
        m.load_state_dict(state)
        m.lean_backward = lean
        xi = x.clone().requires_grad_()
        y = m(xi)
        results.append((y, torch.autograd.grad(y, [xi] + list(m.parameters()), up)))
    assert spy.calls == ([3, 3] if identity else [3])  # split, then x's share
    (y1, g1), (y2, g2) = results
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    # against the plain graph in float64: ours within 2e-6 of the gradient's scale, or
    # no further off than 4x the plain float32 graph (k = 1 with a norm in train mode:
    # BN(w x + b) does not depend on w > 0 or b, their exact gradients are zero and
    # both float32 results are rounding noise, summed in different orders)
    m64 = m.double()
    m64.load_state_dict(state)
    m64.lean_backward = False
    x64 = x.double().requires_grad_()
    g64 = torch.autograd.grad(m64(x64), [x64] + list(m64.parameters()), up.double())
    for a, b, ref in zip(g1, g2, g64):
        err_ours = (a.double() - ref).abs().max().item()
        err_plain = (b.double() - ref).abs().max().item()
        bound = 2e-6 * max(1.0, ref.abs().max().item())
        assert err_ours <= max(bound, 4 * err_plain), (err_ours, err_plain, bound)


def test_lean_kernel_split_ties_float32(monkeypatch):
    """Ties split the gradient in half in the kernel too (relu_init: T(x) == 0)."""
    spy = _SplitSpy(monkeypatch)
    m = FReLU(8, relu_init=True)
    x = torch.randn(2, 8, 5, 5)
    x[:, :, :2] = 0
    xi = x.clone().requires_grad_()
    (g, ) = torch.autograd.grad(m(xi), [xi], torch.ones(2, 8, 5, 5))
    assert spy.calls == [3, 3]
    assert torch.all(g[:, :, :2] == 0.5) and torch.all(g[:, :, 2:] == (x[:, :, 2:] > 0))


def test_lean_kernel_split_off_switch(monkeypatch):
    spy = _SplitSpy(monkeypatch)
    monkeypatch.setattr(FReLU, 'fused_kernel', False)
    m = FReLU(8)
    xi = torch.randn(1, 8, 4, 4, requires_grad=True)
    m(xi).sum().backward()
    assert spy.calls == []
