"""FReLU against the formula, every option combination, gradcheck and errors."""
import itertools

import pytest
import torch

from frelu_mm import FReLU
from reference_frelu import reference_frelu

NORMS = {
    'BN': dict(type='BN'),
    'GN': dict(type='GN', num_groups=2),
    'LN': dict(type='LN'),
    'IN': dict(type='IN'),
    'none': None,
}
CONDITIONS = ('dwconv', 'maxpool', 'avgpool', 'factorized_sum', 'factorized_max')


def randomise_affine(m, generator):
    """Non-trivial norm affines so the reference is not checked at weight 1, bias 0."""
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))


@pytest.mark.parametrize('condition', CONDITIONS)
def test_forward_backward_match_formula_for_every_option(condition):
    g = torch.Generator().manual_seed(0)
    for kernel, combine, identity, norm, bias in itertools.product(
            (1, 3, 5), ('max', 'sum'), (True, False), NORMS, (False, True)):
        m = FReLU(4, kernel_size=kernel, condition=condition, combine=combine,
                  with_identity=identity, norm_cfg=NORMS[norm], bias=bias).double()
        randomise_affine(m, g)
        x = torch.randn(2, 4, 6, 5, generator=g, dtype=torch.float64, requires_grad=True)
        y = m(x)
        x_ref = x.detach().clone().requires_grad_(True)
        y_ref = reference_frelu(x_ref, m)
        torch.testing.assert_close(y, y_ref, rtol=1e-9, atol=1e-9)

        up = torch.randn(y.shape, generator=g, dtype=torch.float64)
        grads = torch.autograd.grad(y, [x] + list(m.parameters()), up)
        grads_ref = torch.autograd.grad(y_ref, [x_ref] + list(m.parameters()), up,
                                        allow_unused=True)
        for got, want in zip(grads, grads_ref):
            want = torch.zeros_like(got) if want is None else want
            torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize('condition,norm', [('dwconv', 'BN'), ('dwconv', 'none'),
                                            ('factorized_sum', 'GN'),
                                            ('factorized_max', 'LN'), ('avgpool', 'IN')])
def test_gradcheck_float64(condition, norm):
    torch.manual_seed(0)
    m = FReLU(2, condition=condition, norm_cfg=NORMS[norm], bias=True).double()
    randomise_affine(m, torch.Generator().manual_seed(1))
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp, *params: m(inp), (x, *m.parameters()))


def test_default_is_the_papers_layer():
    m = FReLU(8)
    assert m.conv.kernel_size == (3, 3) and m.conv.groups == 8 and m.conv.padding == (1, 1)
    assert m.conv.bias is None
    assert isinstance(m.norm, torch.nn.BatchNorm2d)
    x = torch.randn(2, 8, 5, 5)
    m.eval()
    manual = torch.maximum(x, m.norm(m.conv(x)))
    torch.testing.assert_close(m(x), manual, rtol=0, atol=0)
    assert FReLU(8, bias=True).conv.bias is not None


def test_variant_e_is_relu_of_condition():
    m = FReLU(3, with_identity=False).eval()
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(m(x), torch.relu(m.norm(m.conv(x))))


@pytest.mark.parametrize('condition,norm', itertools.product(CONDITIONS, ('BN', 'GN', 'none')))
def test_relu_init_equals_relu(condition, norm):
    if norm == 'none' and condition in ('maxpool', 'avgpool'):
        with pytest.raises(ValueError, match='relu_init'):
            FReLU(4, condition=condition, norm_cfg=NORMS[norm], relu_init=True)
        return
    m = FReLU(4, condition=condition, norm_cfg=NORMS[norm], relu_init=True)
    x = torch.randn(2, 4, 5, 5)
    for mode in (True, False):
        m.train(mode)
        torch.testing.assert_close(m(x), torch.relu(x), rtol=0, atol=0)


def test_init_is_msra_fan_out_and_unit_norm():
    torch.manual_seed(0)
    m = FReLU(4096, kernel_size=3)
    std = m.conv.weight.std().item()
    assert abs(std - (2 / 9) ** 0.5) < 0.02
    assert torch.all(m.norm.weight == 1) and torch.all(m.norm.bias == 0)


def test_inplace_is_accepted_and_input_untouched():
    m = FReLU(3, inplace=True)
    x = torch.randn(1, 3, 4, 4)
    x0 = x.clone()
    m(x)
    assert torch.equal(x, x0)


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=4, kernel_size=4), 'odd'),
    (dict(in_channels=4, kernel_size=0), 'odd'),
    (dict(in_channels=4, condition='median'), 'condition must be one of'),
    (dict(in_channels=4, combine='min'), 'combine must be one of'),
    (dict(in_channels=None), "in_channels=256"),
    (dict(), "in_channels=256"),
    (dict(in_channels=0), 'positive int'),
    (dict(in_channels=4, norm_cfg=dict(type='GN')), 'num_groups'),
])
def test_wrong_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FReLU(**kwargs)


def test_wrong_channel_count_at_forward_raises():
    m = FReLU(4)
    with pytest.raises(ValueError, match=r'FReLU\(in_channels=4\) expects an \(N, 4, H, W\)'):
        m(torch.randn(1, 5, 3, 3))
    with pytest.raises(ValueError, match='expects'):
        m(torch.randn(4, 3, 3))


def test_syncbn_condition_builds_and_runs_without_distributed():
    m = FReLU(4, norm_cfg=dict(type='SyncBN'))
    assert isinstance(m.norm, torch.nn.SyncBatchNorm)
    m.eval()
    x = torch.randn(1, 4, 3, 3)
    torch.testing.assert_close(m(x), torch.maximum(x, m.norm(m.conv(x))))
