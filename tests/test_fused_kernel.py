"""The one-pass C++ kernel of a fused FReLU equals the eager fused path.

The kernel is compiled on first use; here a build failure is an error, not a skip
(gcc is on every machine of this project)."""
import functools

import onnx
import pytest
import torch
import torch.nn as nn

from frelu_mm import FReLU, fuse_frelu
from frelu_mm.converters.onnx_export import TensorForward, export_onnx
from frelu_mm.layers import fused_kernel
from frelu_mm.models import ActResNet

CL = torch.channels_last


@pytest.fixture(autouse=True)
def kernel(monkeypatch):
    k = fused_kernel.load_kernel(raise_errors=True)  # fails, not skips, without gcc
    monkeypatch.setattr(fused_kernel, '_fast', True)  # test whichever build runs here
    return k


def randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def fused(c, k, with_identity, seed=0, inplace=False):
    return fuse_frelu(randomise(FReLU(c, kernel_size=k, with_identity=with_identity,
                                      inplace=inplace), seed).eval())


def reference(m, x):
    """The eager formula, independent of FReLU.forward."""
    t = torch.conv2d(x, m.conv.weight, m.conv.bias, 1, m.kernel_size // 2, 1, x.shape[1])
    return torch.maximum(x, t) if m.with_identity else t.clamp_min(0)


def run(m, x, use_kernel):
    m.fused_kernel = use_kernel
    with torch.no_grad():
        return m(x)


def calls(monkeypatch):
    """Count the calls that went through the kernel."""
    n = [0]
    real = fused_kernel.fused_frelu

    def counted(m, x):
        y = real(m, x)
        n[0] += y is not None
        return y
    monkeypatch.setattr(fused_kernel, 'fused_frelu', counted)
    return n


# odd channel counts (pixel by pixel), multiples of 16 (strips of pixels), rows with
# and without a remainder after the strips, rows narrower than one strip
SHAPES = [(2, 13, 7, 5), (1, 64, 1, 1), (3, 37, 2, 3), (2, 256, 14, 14), (1, 3, 1, 9),
          (1, 40, 6, 1), (2, 72, 9, 11), (1, 48, 6, 23), (2, 32, 3, 6)]


@pytest.mark.parametrize('k', [1, 3, 5])
@pytest.mark.parametrize('with_identity', [True, False])
def test_kernel_equals_eager(k, with_identity, monkeypatch):
    n = calls(monkeypatch)
    for i, shape in enumerate(SHAPES):
        m = fused(shape[1], k, with_identity, seed=i)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(i)).contiguous(
            memory_format=CL)
        y = run(m, x, True)
        eager = run(m, x, False)
        ref = reference(m, x)
        assert y.shape == ref.shape and y.is_contiguous(memory_format=CL)
        torch.testing.assert_close(y, eager, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    assert n[0] == len(SHAPES)  # every call above went through the kernel


@pytest.mark.parametrize('k', [1, 3, 5, 7])
@pytest.mark.parametrize('with_identity', [True, False])
@pytest.mark.parametrize('threads', [1, 2, 3, 8])
def test_inplace_kernel_overwrites_input_with_the_output(k, with_identity, threads, monkeypatch):
    """In place (inplace=True), every split of the rows over threads: chunks of one row,
    chunk borders inside an image and between images, halos wider than a chunk."""
    n = calls(monkeypatch)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for i, shape in enumerate(SHAPES + [(3, 16, 5, 4), (1, 8, 2, 2)]):
            m = fused(shape[1], k, with_identity, seed=i, inplace=True)
            x = torch.randn(shape, generator=torch.Generator().manual_seed(i)).contiguous(
                memory_format=CL)
            ref = reference(m, x)
            x_in = x.clone()
            y = run(m, x_in, True)
            assert y.data_ptr() == x_in.data_ptr()  # written over its input
            torch.testing.assert_close(x_in, ref, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(y, run(m, x.clone(), False), rtol=1e-5, atol=1e-5)
    finally:
        torch.set_num_threads(before)
    assert n[0] == len(SHAPES) + 2


def test_not_inplace_leaves_input_alone():
    m = fused(16, 3, True)
    x = torch.randn(2, 16, 6, 6).contiguous(memory_format=CL)
    x0 = x.clone()
    y = run(m, x, True)
    assert torch.equal(x, x0) and y.data_ptr() != x.data_ptr()


@pytest.mark.parametrize('with_identity', [True, False])
def test_nan_propagates_like_maximum(with_identity):
    m = fused(16, 3, with_identity)
    x = torch.randn(1, 16, 7, 12).contiguous(memory_format=CL)
    x[0, 3, 2, 2] = x[0, 5, 4, 0] = x[0, 15, 6, 11] = float('nan')  # inner, border, corner
    y, eager = run(m, x, True), run(m, x, False)
    assert torch.equal(y.isnan(), eager.isnan()) and y.isnan().sum() >= 3 * 4


@pytest.mark.parametrize('k', [3, 5])
@pytest.mark.parametrize('inplace', [False, True])
def test_long_rows_prefetched(k, inplace):
    """Rows of at least 6 strips (4 pixels each) are prefetched in software: same result."""
    m = fused(48, k, True, inplace=inplace)
    x = torch.randn(3, 48, 5, 61).contiguous(memory_format=CL)
    ref = reference(m, x)
    y = run(m, x, True)
    assert (y.data_ptr() == x.data_ptr()) == inplace
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


def test_ineligible_inputs_use_the_eager_path(monkeypatch):
    n = calls(monkeypatch)
    m = fused(8, 3, True)
    x = torch.randn(2, 8, 6, 6)
    run(m, x, True)  # NCHW
    run(m, x.contiguous(memory_format=CL), False)  # turned off
    xg = x.contiguous(memory_format=CL).requires_grad_()
    m(xg).sum().backward()  # autograd on
    unfused = randomise(FReLU(8)).eval()
    run(unfused, x.contiguous(memory_format=CL), True)  # norm not folded
    run(randomise(FReLU(8, condition='maxpool')).eval(), x.contiguous(memory_format=CL), True)
    assert n[0] == 0
    run(m, x.contiguous(memory_format=CL), True)
    assert n[0] == 1


def test_backbone_same_with_and_without_kernel(monkeypatch):
    torch.manual_seed(0)
    model = randomise(ActResNet(depth=50, base_channels=4, stem_channels=8,
                                act_cfg=dict(type='FReLU')))
    model.eval()
    fuse_frelu(model)
    x = torch.randn(2, 3, 64, 64).contiguous(memory_format=CL)
    n = calls(monkeypatch)
    FReLU.fused_kernel = True
    try:
        with torch.no_grad():
            outs = model(x)
        used = n[0]
        FReLU.fused_kernel = False
        with torch.no_grad():
            eager = model(x)
    finally:
        FReLU.fused_kernel = True
    assert used == sum(isinstance(m, FReLU) for m in model.modules()) > 0
    for a, b in zip(outs, eager):
        err = (a - b).abs().max().item()
        assert err <= 1e-5 * b.abs().max().item(), err


def test_tracing_and_onnx_keep_plain_ops(monkeypatch, tmp_path):
    n = calls(monkeypatch)
    m = fused(8, 3, True)
    x = torch.randn(1, 8, 6, 6).contiguous(memory_format=CL)
    with torch.no_grad():  # no grad, channels-last: eligible but for the tracing
        graph = str(torch.jit.trace(m, x, check_trace=False).graph)
    assert 'fused_frelu' not in graph and 'aten::maximum' in graph
    assert n[0] == 0
    during_export = []
    real_export = torch.onnx.export

    @functools.wraps(real_export)  # keeps its signature (onnx_export_kwargs reads it)
    def export(*args, **kwargs):
        before = n[0]
        real_export(*args, **kwargs)
        during_export.append(n[0] - before)
    monkeypatch.setattr(torch.onnx, 'export', export)
    for form, want in (('max', {'Conv', 'Max'}), ('add', {'Conv', 'Relu', 'Add'})):
        path = str(tmp_path / f'frelu_{form}.onnx')
        export_onnx(TensorForward(m), x, path, frelu_form=form)
        ops = {node.op_type for node in onnx.load(path).graph.node}
        assert want <= ops and not any('frelu' in op.lower() for op in ops), ops
    assert during_export == [0, 0]
