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


@pytest.fixture(autouse=True, params=[True, False], ids=['wide-rows', 'narrow-rows'])
def kernel(request, monkeypatch):
    """The kernel, each test twice: rows 16 lanes wide (AVX-512; where the CPU lacks it,
    the 8-lane rows again) and 8 lanes wide."""
    k = fused_kernel.load_kernel(raise_errors=True)  # fails, not skips, without gcc
    monkeypatch.setattr(fused_kernel, '_fast', True)  # test whichever build runs here
    before = k.wide_rows()
    k.set_wide_rows(request.param)
    yield k
    k.set_wide_rows(before)


def cpu_flags():
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('flags'):
                return set(line.split(':', 1)[1].split())
    return set()


def test_wide_rows_where_the_cpu_has_avx512(kernel):
    """On by default exactly where the CPU has x86-64-v4's AVX-512 subsets (and the
    x86-64 GCC >= 12 build has the wide rows)."""
    avx512 = {'avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl'} <= cpu_flags()
    assert kernel.set_wide_rows(True) == (avx512 and bool(kernel.fast_path()))
    assert kernel.set_wide_rows(False) is False and kernel.wide_rows() is False


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


def assert_near_float64(grads, grads32, grads64):
    """Each float32 gradient within 2e-5 of its float64 reference's scale, or no further
    off than 4x the plain float32 graph's (where the exact gradient is rounding noise)."""
    for a, b, ref_b in zip(grads, grads32, grads64):
        err_ours = (a.double() - ref_b).abs().max().item()
        err_plain = (b.double() - ref_b).abs().max().item()
        bound = 2e-5 * max(1.0, ref_b.abs().max().item())
        assert err_ours <= max(bound, 4 * err_plain), (err_ours, err_plain, bound)


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


@pytest.mark.parametrize('inplace', [False, True])
@pytest.mark.parametrize('with_identity', [True, False])
@pytest.mark.parametrize('threads', [1, 2, 3])
def test_rows_in_groups_and_single_rows(inplace, with_identity, threads):
    """k = 3 on channels in blocks of 16 (the wide build runs two or three output rows
    at once) or of 8 (the 8-lane rows, on AVX2, in groups too): heights of single rows,
    pairs, triples and their mixes (5: a triple and a pair; 4: two pairs; 7: a triple and
    two pairs), groups cut by the threads' chunk borders, rows narrower than a strip and
    long prefetched ones; widths that leave 1 to 4 pixels for the strip at the right edge
    (16 lanes: triples in strips of 3 pixels, pairs of 4; 8 lanes: strips of 2), and the
    narrowest rows with edge strips (16 lanes: 5 for triples, 6 for pairs; 8 lanes: 4) or
    without (4 and 5; 8 lanes: 3)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for i, shape in enumerate([(3, 32, 2, 9), (2, 16, 3, 1), (1, 48, 5, 30),
                                   (3, 64, 7, 4), (2, 32, 1, 6), (5, 16, 4, 13),
                                   (2, 16, 6, 11), (2, 32, 9, 7), (2, 16, 2, 7),
                                   (1, 32, 4, 8), (2, 16, 3, 5), (1, 16, 2, 6),
                                   (1, 16, 2, 5), (2, 8, 5, 3), (1, 24, 3, 4),
                                   (3, 8, 4, 5), (1, 40, 7, 10)]):
            m = fused(shape[1], 3, with_identity, seed=i, inplace=inplace)
            x = torch.randn(shape, generator=torch.Generator().manual_seed(i)).contiguous(
                memory_format=CL)
            ref = reference(m, x)
            y = run(m, x, True)
            assert (y.data_ptr() == x.data_ptr()) == inplace
            torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize('inplace', [True, False])
def test_groups_of_rows_run_where_they_fit(kernel, inplace):
    """The groups of rows run (their outputs equal the single rows' to the bit, so only
    the kernel's count of groups tells) for k = 3 with channels in whole vectors of the
    rows' width, wherever the AVX2+FMA build runs; single rows otherwise."""
    width = 16 if kernel.wide_rows() else 8

    def groups(c, k, h=6):
        m = fused(c, k, True, inplace=inplace)
        x = torch.randn(2, c, h, 9).contiguous(memory_format=CL)
        before = kernel.groups_run()
        torch.testing.assert_close(run(m, x.clone(), True), reference(m, x),
                                   rtol=1e-5, atol=1e-5)
        return kernel.groups_run() - before

    fast = bool(kernel.fast_path())
    assert (groups(width, 3) > 0) == fast and (groups(3 * width, 3) > 0) == fast
    assert groups(width + 4, 3) == 0  # channels not in whole vectors
    assert groups(width, 5) == 0  # k = 5: single rows
    assert groups(width, 3, h=1) == 0  # one row an image


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


def _aten_dwconv_backward(g, x, w):
    k, c = w.shape[-1], x.shape[1]
    return torch.ops.aten.convolution_backward(g, x, w, [c], [1, 1], [k // 2] * 2, [1, 1],
                                               False, [0, 0], c, [True, True, True])


@pytest.mark.parametrize('k', [1, 3, 5, 7, 9])
@pytest.mark.parametrize('shape', [(2, 13, 9, 7), (1, 40, 3, 2), (3, 8, 1, 12), (2, 64, 17, 30)])
@pytest.mark.parametrize('threads', [1, 2])
def test_dwconv_backward_kernels_equal_aten(kernel, k, shape, threads):
    """The depthwise conv's input and weight/bias gradients (stride 1, padding k // 2)
    equal aten's convolution_backward, computed in float64: channel tails (13, 40),
    images narrower or lower than the kernel, long rows (prefetch), 1 and 2 threads."""
    g = torch.Generator().manual_seed(k * 7 + shape[1])
    x = torch.randn(shape, generator=g).contiguous(memory_format=CL)
    gy = torch.randn(shape, generator=g).contiguous(memory_format=CL)
    w = torch.randn(shape[1], 1, k, k, generator=g)
    ref_x, ref_w, ref_b = _aten_dwconv_backward(gy.double(), x.double(), w.double())
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gx = kernel.dwconv_input_grad(gy, w)
        sums = kernel.dwconv_weight_grad(gy, x, k)
    finally:
        torch.set_num_threads(before)
    assert gx.is_contiguous(memory_format=CL) and sums.shape == (shape[1], k * k + 1)
    torch.testing.assert_close(gx.double(), ref_x, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sums[:, :-1].reshape(w.shape).double(), ref_w, rtol=1e-5,
                               atol=1e-4)
    torch.testing.assert_close(sums[:, -1].double(), ref_b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('k', [1, 3, 5, 7])
@pytest.mark.parametrize('shape', [(2, 13, 9, 7), (1, 40, 3, 2), (2, 64, 17, 30)])
@pytest.mark.parametrize('rest', [False, True])
@pytest.mark.parametrize('threads', [1, 2])
def test_dwconv_grads_in_one_pass_equal_aten(kernel, k, shape, rest, threads):
    """``dwconv_grads_into_``: the input gradient (plus ``a - b``) into ``out`` and the
    weight and bias gradients, in one pass, against aten's convolution_backward in
    float64: channel tails, 16- and 8-lane blocks, images narrower or lower than the
    kernel, a kernel size known only at run time (7), 1 and 2 threads; written over
    ``x`` itself (each pixel read before it is written) it gives the same."""
    g = torch.Generator().manual_seed(k * 11 + shape[1])
    x, gy, a, b = (torch.randn(shape, generator=g).contiguous(memory_format=CL)
                   for _ in range(4))
    w = torch.randn(shape[1], 1, k, k, generator=g)
    ref_x, ref_w, ref_b = _aten_dwconv_backward(gy.double(), x.double(), w.double())
    if rest:
        ref_x = ref_x + (a.double() - b.double())
    ab = (a, b) if rest else (None, None)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = torch.empty_like(x)
        sums = kernel.dwconv_grads_into_(out, gy, w, x, *ab)
        over_x = x.clone()
        sums_over_x = kernel.dwconv_grads_into_(over_x, gy, w, over_x, *ab)
    finally:
        torch.set_num_threads(before)
    assert sums.shape == (shape[1], k * k + 1)
    for gx, s in ((out, sums), (over_x, sums_over_x)):
        torch.testing.assert_close(gx.double(), ref_x, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(s[:, :-1].reshape(w.shape).double(), ref_w, rtol=1e-5,
                                   atol=1e-4)
        torch.testing.assert_close(s[:, -1].double(), ref_b, rtol=1e-5, atol=1e-4)
    with pytest.raises(RuntimeError, match='out must not be gy'):
        kernel.dwconv_grads_into_(gy, gy, w, x, *ab)


@pytest.mark.parametrize('k', [1, 3, 5, 7])
@pytest.mark.parametrize('shape', [(3, 13, 5, 7), (2, 40, 9, 2), (2, 64, 17, 30)])
@pytest.mark.parametrize('threads', [1, 2, 3])
@pytest.mark.parametrize('over_x', [False, True])
def test_dwconv_bn_grads_equal_their_formula(kernel, k, shape, threads, over_x):
    """``dwconv_bn_grads_into_``: the conv's backward from ``g_c = a g_t + b (conv(x) +
    bias_c) + d`` (made row by row, never whole), plus ``ra - rb``, against the formula
    and aten's convolution_backward in float64. Row chunks of 1-3 threads begin and end
    inside images and across them; written over ``x``, the rows a chunk needs from its
    neighbours' ranges come from copies."""
    g = torch.Generator().manual_seed(k * 13 + shape[1])
    x, gt, ra, rb = (torch.randn(shape, generator=g).contiguous(memory_format=CL)
                     for _ in range(4))
    c = shape[1]
    w = torch.randn(c, 1, k, k, generator=g)
    bias_c, a, b, d = (torch.randn(c, generator=g) for _ in range(4))
    x64 = x.double()
    u = torch.conv2d(x64, w.double(), bias_c.double(), 1, k // 2, 1, c)
    col = (lambda v: v.double().view(1, -1, 1, 1))
    g_c = col(a) * gt.double() + col(b) * u + col(d)
    ref_x, ref_w, ref_b = _aten_dwconv_backward(g_c, x64, w.double())
    ref_x = ref_x + (ra.double() - rb.double())
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = x.clone() if over_x else torch.empty_like(x)
        xin = out if over_x else x
        sums = kernel.dwconv_bn_grads_into_(out, xin, w, bias_c, gt, a, b, d, ra, rb)
    finally:
        torch.set_num_threads(before)
    # float32 rounding: within 2e-6 of each result's scale (k = 7 sums 49 taps)
    torch.testing.assert_close(out.double(), ref_x, rtol=1e-5,
                               atol=2e-6 * max(1.0, ref_x.abs().max().item()))
    scale = max(1.0, ref_w.abs().max().item())
    torch.testing.assert_close(sums[:, :-1].reshape(w.shape).double(), ref_w, rtol=1e-5,
                               atol=2e-5 * scale)
    torch.testing.assert_close(sums[:, -1].double(), ref_b, rtol=1e-5,
                               atol=2e-5 * max(1.0, ref_b.abs().max().item()))
    with pytest.raises(RuntimeError, match='out must not be gt'):
        kernel.dwconv_bn_grads_into_(gt, x, w, bias_c, gt, a, b, d, ra, rb)


def test_lean_path_uses_the_dwconv_kernels_in_channels_last(monkeypatch):
    """A channels-last float32 training step runs its depthwise conv (forward, recompute,
    backward) in the kernels and gives the plain graph's gradients; NCHW keeps aten's."""
    from frelu_mm.layers import lean_frelu
    used = []
    real = lean_frelu.dwconv_ops

    def spy(*a):
        ops = real(*a)
        used.append(ops is not None)
        return ops
    monkeypatch.setattr(lean_frelu, "dwconv_ops", spy)
    for fmt, expected in ((CL, True), (torch.contiguous_format, False)):
        used.clear()
        m = randomise(FReLU(24, kernel_size=3)).train().to(memory_format=fmt)
        x = torch.randn(2, 24, 11, 10).contiguous(memory_format=fmt)
        up = torch.randn_like(x)
        grads = []
        for lean in (True, False):
            m.lean_backward = lean
            xi = x.clone().requires_grad_()
            grads.append(torch.autograd.grad(m(xi), [xi] + list(m.parameters()), up))
        assert used and all(u == expected for u in used), used
        for a, b in zip(*grads):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('k', [1, 3, 5, 7])
@pytest.mark.parametrize('channels', [16, 13])
@pytest.mark.parametrize('identity,bias', [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize('mode', ['train', 'eval', 'cumulative'])
def test_lean_kernel_path_equals_float64_plain(k, channels, identity, bias, mode, monkeypatch):
    """float32 channels-last training through the C++ path (conv, moments, norm+max,
    split with the norm's sums, norm backward, conv backward) against the plain graph
    in float64: output, every gradient, and the running statistics (momentum 0.1, or
    None: the cumulative average) and num_batches_tracked."""
    from frelu_mm.layers import lean_frelu
    split_calls = []
    real = lean_frelu._kernel_backward

    def spy(ops, *a):
        split_calls.append(1)
        return real(ops, *a)
    monkeypatch.setattr(lean_frelu, '_kernel_backward', spy)
    m = randomise(FReLU(channels, kernel_size=k, with_identity=identity, bias=bias), seed=k)
    if mode == 'cumulative':
        m.norm.momentum = None
    m.train(mode != 'eval')
    ref = FReLU(channels, kernel_size=k, with_identity=identity, bias=bias).double()
    ref.load_state_dict(m.state_dict())
    ref.train(mode != 'eval')
    ref.lean_backward = False
    if mode == 'cumulative':
        ref.norm.momentum = None
    m = m.to(memory_format=CL)
    g = torch.Generator().manual_seed(channels + k)
    x = torch.randn(2, channels, 9, 11, generator=g) * 2 + 0.5
    up = torch.randn(x.shape, generator=g)
    plain = FReLU(channels, kernel_size=k, with_identity=identity, bias=bias)
    plain.load_state_dict(ref.state_dict())
    plain.train(mode != 'eval')
    plain.lean_backward = False
    if mode == 'cumulative':
        plain.norm.momentum = None
    for step in range(2):  # two steps: the running statistics move twice; the output
        # gradient channels-last, then NCHW (laid out again as x)
        xi = x.contiguous(memory_format=CL).requires_grad_()
        y = m(xi)
        grads = torch.autograd.grad(y, [xi] + list(m.parameters()),
                                    up.contiguous(memory_format=CL) if step == 0 else up)
        xp = x.clone().requires_grad_()
        grads32 = torch.autograd.grad(plain(xp), [xp] + list(plain.parameters()), up)
        x64 = x.double().requires_grad_()
        y64 = ref(x64)
        grads64 = torch.autograd.grad(y64, [x64] + list(ref.parameters()), up.double())
        torch.testing.assert_close(y.double(), y64, rtol=1e-5, atol=1e-5)
        # within 2e-5 of the scale, or no further off than 4x the plain float32 graph
        # (k = 1 in train mode: the conv weight's gradient comes from eps alone)
        assert_near_float64(grads, grads32, grads64)
        for key, v in ref.state_dict().items():
            torch.testing.assert_close(m.state_dict()[key].to(v.dtype), v, rtol=1e-5, atol=1e-6)
    assert len(split_calls) == 2
    assert not any(lean_frelu._scratch.busy)  # every backward gave its buffers back


@pytest.mark.parametrize('channels', [21, 40])
@pytest.mark.parametrize('k', [1, 3])
def test_dwconv_moments_equal_the_conv_outputs(kernel, channels, k):
    """``dwconv_moments`` sums the conv's output without writing it, shifted by its
    value at the first pixel: a mean of 1000 and a standard deviation of about 0.005
    give the mean and variance of the written output (``dwconv``) as float64 does."""
    g = torch.Generator().manual_seed(channels + k)
    x = torch.randn(2, channels, 13, 17, generator=g).contiguous(memory_format=CL)
    w = torch.randn(channels, 1, k, k, generator=g) * 0.01
    b = torch.full((channels,), 1000.0)
    moments = kernel.dwconv_moments(x, w, b)
    c = kernel.dwconv(x, w, b)
    torch.testing.assert_close(moments[0], c[0, :, 0, 0].double(), rtol=1e-6, atol=1e-4)
    m = c.numel() // channels
    mean = moments[0] + moments[1] / m
    var = moments[2] / m - (moments[1] / m) ** 2
    ref = c.double()
    torch.testing.assert_close(mean, ref.mean((0, 2, 3)), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(var, ref.var((0, 2, 3), unbiased=False), rtol=1e-5, atol=0)


@pytest.mark.parametrize('channels', [19, 72])
@pytest.mark.parametrize('threads', [1, 2])
def test_channel_moments_far_from_zero(kernel, channels, threads):
    """The moments are shifted by each channel's first value: a mean of 1000 and a
    standard deviation of 0.01 still give the variance to float64's reference (channels
    in blocks of 32, of 8 and one by one; runs of pixels split over threads)."""
    g = torch.Generator().manual_seed(2)
    c = (torch.randn(2, channels, 15, 12, generator=g) * 0.01 + 1000).contiguous(
        memory_format=CL)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        k, s1, s2 = kernel.channel_moments(c)
    finally:
        torch.set_num_threads(before)
    m = c.numel() // channels
    mean, var = k + s1 / m, s2 / m - (s1 / m) ** 2
    ref = c.double()
    torch.testing.assert_close(mean, ref.mean((0, 2, 3)), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(var, ref.var((0, 2, 3), unbiased=False), rtol=1e-5, atol=0)


@pytest.mark.parametrize('k', [1, 3, 5])
def test_dwconv_input_grad_into_adds_the_rest(kernel, k):
    """``dwconv_input_grad_into_(out, gy, w, a, b)`` is the input gradient plus ``a - b``,
    also written over ``b`` itself; without ``a, b`` the input gradient alone."""
    g = torch.Generator().manual_seed(k)
    shape = (2, 21, 8, 19)
    gy, a, b = (torch.randn(shape, generator=g).contiguous(memory_format=CL) for _ in range(3))
    w = torch.randn(21, 1, k, k, generator=g)
    ref = kernel.dwconv_input_grad(gy, w) + (a - b)
    out = kernel.dwconv_input_grad_into_(torch.empty_like(gy), gy, w, a, b)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    over_b = b.clone()
    assert kernel.dwconv_input_grad_into_(over_b, gy, w, a, over_b) is not None
    torch.testing.assert_close(over_b, ref, rtol=1e-6, atol=1e-6)
    plain = kernel.dwconv_input_grad_into_(torch.empty_like(gy), gy, w, None, None)
    torch.testing.assert_close(plain, kernel.dwconv_input_grad(gy, w), rtol=0, atol=0)


@pytest.mark.parametrize('shape,train', [((1, 8, 1, 1), False), ((2, 8, 1, 1), True),
                                         ((2, 8, 1, 1), False)])
def test_lean_kernel_path_on_tiny_maps(shape, train):
    """One-pixel maps (a PSP head's pooled branch): NCHW-contiguous tensors that are
    also channels-last contiguous, with other strides on their size-1 dimensions, take
    the C++ path and give the plain graph's values."""
    m = randomise(FReLU(8, kernel_size=3)).train(train)
    x = torch.randn(shape)
    assert x.is_contiguous(memory_format=CL)
    up = torch.randn(shape)
    results = []
    for lean in (True, False):
        m.lean_backward = lean
        xi = x.clone().requires_grad_()
        y = m(xi)
        results.append((y, torch.autograd.grad(y, [xi] + list(m.parameters()), up)))
    (y1, g1), (y2, g2) = results
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('k', [1, 3, 5])
@pytest.mark.parametrize('with_identity', [True, False])
def test_folded_kernels_and_mask(kernel, k, with_identity):
    """A frozen norm folded into the conv: ``frelu_folded`` (and in place) against the
    float64 formula; the backward's ``frelu_folded_split`` recomputes its mask bit for
    bit (a share of all of g exactly where the forward took t, half on ties) and sums
    the share and share * u as float64 does."""
    g = torch.Generator().manual_seed(k)
    shape = (2, 21, 9, 13)
    x = torch.randn(shape, generator=g)
    w = torch.randn(21, 1, k, k, generator=g) * 0.5
    bias_c = torch.randn(21, generator=g) * 0.1
    scale, shift = torch.rand(21, generator=g) + 0.5, torch.randn(21, generator=g) * 0.1
    if k == 1:  # ties where t == x == 0 exactly (and t == 0 == the base without x)
        x[:, :, ::3] = 0.0
        bias_c.zero_()
        shift.zero_()
    x = x.contiguous(memory_format=CL)
    u = torch.conv2d(x.double(), w.double(), bias_c.double(), 1, k // 2, 1, 21)
    t = u * scale.double().view(1, -1, 1, 1) + shift.double().view(1, -1, 1, 1)
    base = x.double() if with_identity else torch.zeros_like(t)
    y = kernel.frelu_folded(x, w, bias_c, scale, shift, with_identity)
    torch.testing.assert_close(y.double(), torch.maximum(base, t), rtol=1e-5, atol=1e-5)
    over = x.clone()
    assert kernel.frelu_folded_(over, w, bias_c, scale, shift, with_identity) is not None
    assert torch.equal(over, y)
    ones = torch.ones(shape).contiguous(memory_format=CL)
    share, sums = kernel.frelu_folded_split(x, ones, w, bias_c, scale, shift, with_identity)
    took_t = y != (x if with_identity else torch.zeros_like(x))
    assert torch.all(share[took_t] == 1.0)
    assert torch.all(share[~took_t] != 1.0)  # 0, or 0.5 on an exact tie
    if k == 1:
        assert torch.all(share[:, :, ::3] == 0.5)
    torch.testing.assert_close(sums[0], share.double().sum((0, 2, 3)), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(sums[1], (share.double() * u).sum((0, 2, 3)), rtol=1e-5, atol=1e-4)
    gy = torch.randn(shape, generator=g).contiguous(memory_format=CL)
    share_g, _ = kernel.frelu_folded_split(x, gy, w, bias_c, scale, shift, with_identity)
    torch.testing.assert_close(share_g, share * gy, rtol=0, atol=0)
    buf = torch.full_like(x, float('nan'))  # a reused buffer: every value is written
    into, sums_into = kernel.frelu_folded_split(x, ones, w, bias_c, scale, shift,
                                                with_identity, buf)
    assert into.data_ptr() == buf.data_ptr()
    assert torch.equal(buf, share) and torch.equal(sums_into, sums)
    with pytest.raises(RuntimeError, match='out must not be x or g'):
        kernel.frelu_folded_split(x, ones, w, bias_c, scale, shift, with_identity, ones)


def test_scratch_buffers_reused_from_site_to_site():
    """The lean backward's scratch buffers: laid out as asked, the same memory again for
    the same or a smaller size, a new one while all are taken or for a larger size;
    nothing kept after ``release``."""
    from frelu_mm.layers.lean_frelu import _Scratch
    s = _Scratch()
    mid = torch.empty(2, 8, 4, 4).contiguous(memory_format=CL)
    taken = [s.take(mid) for _ in range(_Scratch.slots)]
    assert all(t.shape == mid.shape and t.stride() == mid.stride() for t in taken)
    ptrs = [t.data_ptr() for t in taken]
    assert len(set(ptrs)) == _Scratch.slots
    extra = s.take(mid)  # all taken: a new tensor
    assert extra.data_ptr() not in ptrs
    s.give()
    assert s.take(mid[:1]).data_ptr() == ptrs[0]
    assert s.take(mid).data_ptr() == ptrs[1]
    s.give()
    bigger = s.take(torch.empty(3, 8, 4, 4).contiguous(memory_format=CL))
    s.give()
    assert s.take(mid).data_ptr() == bigger.data_ptr()
    s.give()
    s.release()
    assert s.flats == [None] * _Scratch.slots and not any(s.busy)


def test_scratch_buffers_kept_from_step_to_step():
    """A training step's backward reuses the buffers of the step before (no fresh
    memory per step); ``release_scratch`` frees them."""
    from frelu_mm.layers import lean_frelu
    lean_frelu.release_scratch()
    m = randomise(FReLU(16), seed=3).train()
    x = torch.randn(2, 16, 9, 11).contiguous(memory_format=CL).requires_grad_()

    def step():
        m(x).sum().backward()
        return [None if f is None else f.data_ptr() for f in lean_frelu._scratch.flats]
    first = step()
    assert first[0] is not None  # the kernel path took a buffer
    assert step() == first
    lean_frelu.release_scratch()
    assert lean_frelu._scratch.flats == [None] * lean_frelu._Scratch.slots


@pytest.mark.parametrize('channels,width', [(37, 11), (64, 30)])
@pytest.mark.parametrize('k', [1, 3, 5])
def test_dwconv_bn_grad_into_equals_its_formula(kernel, channels, width, k):
    """``dwconv_bn_grad_into_(out, x, w, bias, g_t, a, b, d)`` writes ``a g_t + b
    (dwconv(x) + bias) + d`` per channel (the folded norm's input gradient) over every
    value of ``out``, against float64 (channel tails, strips, prefetched rows); ``out``
    may not be ``x``."""
    g = torch.Generator().manual_seed(k + channels)
    x = torch.randn(2, channels, 6, width, generator=g).contiguous(memory_format=CL)
    gt = torch.randn(x.shape, generator=g).contiguous(memory_format=CL)
    w, bias = torch.randn(channels, 1, k, k, generator=g), torch.randn(channels, generator=g)
    a, b, d = (torch.randn(channels, generator=g) for _ in range(3))
    out = torch.full_like(x, float('nan'))
    assert kernel.dwconv_bn_grad_into_(out, x, w, bias, gt, a, b, d).data_ptr() == \
        out.data_ptr()
    u = torch.conv2d(x.double(), w.double(), bias.double(), 1, k // 2, 1, channels)
    col = lambda v: v.double().view(1, -1, 1, 1)  # noqa: E731
    torch.testing.assert_close(out.double(), col(a) * gt.double() + col(b) * u + col(d),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match='out must not be x'):
        kernel.dwconv_bn_grad_into_(x, x, w, bias, gt, a, b, d)


@pytest.mark.parametrize('residual', ['none', 'identity', 'downsample'])
@pytest.mark.parametrize('host_train,frelu_train', [(True, True), (False, False), (True, False)])
@pytest.mark.parametrize('channels,k', [(16, 3), (13, 5)])
def test_lean_norm_kernel_path_equals_float64_plain(residual, host_train, frelu_train,
                                                    channels, k, monkeypatch):
    """``FReLU(BN(c) + identity)`` in float32 channels-last through the C++ path (the
    folded one where FReLU's norm is frozen: forward over the host norm's output, the
    input gradient over the recomputed x) against the plain graph in float64: output,
    the gradients of c, identity and every parameter, all norms' running statistics,
    over two steps. The host norm and the residual add run in the C++ pass
    (``norm_affine``), forward and recompute; with a downsample branch (1x1 conv, BN)
    its norm too, applied by the Function to the branch conv's output."""
    from frelu_mm.layers import lean_frelu
    from frelu_mm.layers.norm_act import norm_act
    paths, host_norms = [], []
    real, real_host = lean_frelu._kernel_backward, lean_frelu._host_norm

    def spy(ops, *a):
        paths.append(a[-1])  # x_owned
        return real(ops, *a)

    def host_spy(applied, ops, *a, **kw):
        host_norms.append((ops is not None, kw.get('recompute', False)))
        return real_host(applied, ops, *a, **kw)
    monkeypatch.setattr(lean_frelu, '_kernel_backward', spy)
    monkeypatch.setattr(lean_frelu, '_host_norm', host_spy)

    def models(dtype):
        host = randomise(nn.BatchNorm2d(channels), seed=1).to(dtype).train(host_train)
        m = randomise(FReLU(channels, kernel_size=k), seed=2).to(dtype)
        m.norm.train(frelu_train)
        down = None if residual != 'downsample' else nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
        if down is not None:
            down = randomise(down, seed=3).to(dtype).train(host_train)
        return host, m, down
    host, m, down = models(torch.float32)
    host32, plain, down32 = models(torch.float32)
    host64, ref, down64 = models(torch.float64)
    plain.lean_backward = ref.lean_backward = False
    g = torch.Generator().manual_seed(channels)
    c = torch.randn(2, channels, 9, 11, generator=g) * 3 + 1
    res = torch.randn(c.shape, generator=g)
    up = torch.randn(c.shape, generator=g)

    def step(norm, act, down, fmt, dtype):
        ci = c.to(dtype).contiguous(memory_format=fmt).requires_grad_()
        ri = res.to(dtype).contiguous(memory_format=fmt).requires_grad_()
        if down is not None:
            down.to(memory_format=fmt)
        y = norm_act(norm, act, ci, None if residual == 'none' else ri, down)
        inputs = [ci] + ([] if residual == 'none' else [ri]) + list(norm.parameters()) + \
            list(act.parameters()) + ([] if down is None else list(down.parameters()))
        return y, torch.autograd.grad(y, inputs, up.to(dtype).contiguous(memory_format=fmt))
    for _ in range(2):
        y, grads = step(host, m, down, CL, torch.float32)
        _, grads32 = step(host32, plain, down32, torch.contiguous_format, torch.float32)
        y64, grads64 = step(host64, ref, down64, torch.contiguous_format, torch.float64)
        torch.testing.assert_close(y.double(), y64, rtol=1e-5, atol=1e-5)
        assert_near_float64(grads, grads32, grads64)
        pairs = ((host, host64), (m, ref)) + (() if down is None else ((down, down64),))
        for ours_mod, ref_mod in pairs:
            for key, v in ref_mod.state_dict().items():
                torch.testing.assert_close(ours_mod.state_dict()[key].to(v.dtype), v,
                                           rtol=1e-5, atol=1e-6)
    assert paths == [True, True]
    per_norm = 2 if residual == 'downsample' else 1  # the branch's norm, then the host's
    assert host_norms == ([(True, False)] * per_norm + [(True, True)] * per_norm) * 2
