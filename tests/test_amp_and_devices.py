"""FReLU under mixed precision, channels-last and on CUDA, against the float32 formula.

The fused C++ kernel is CPU-only: a GPU runs the lean (training) and eager (inference)
paths. The CUDA tests run wherever CUDA is present and are skipped with the reason where
it is not; bf16 autocast on CPU runs everywhere.
"""
import copy

import pytest
import torch

from frelu_mm.fuse import fuse_frelu
from frelu_mm.layers import FReLU
from reference_frelu import reference_frelu

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason='no CUDA device on this machine: the GPU '
                                 'paths (lean backward, eager inference) run where one is')
# autocast's precision: bf16 keeps 8 bits of mantissa, fp16 11
TOLERANCE = {torch.bfloat16: 6e-2, torch.float16: 1e-2}


def layer(c=8, k=3, seed=0):
    torch.manual_seed(seed)
    m = FReLU(c, kernel_size=k)
    with torch.no_grad():  # a non-trivial norm, so both branches of the max are taken
        m.norm.weight.uniform_(0.5, 1.5)
        m.norm.bias.uniform_(-0.5, 0.5)
    return m


def train_step(m, x, device, dtype=None, channels_last=False):
    """Output and input/weight gradients of one training forward/backward on ``device``."""
    m = copy.deepcopy(m).to(device).train()
    x = x.to(device).detach()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    with torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
        y = m(x)
    (y.float() * torch.linspace(-1, 1, y.numel(), device=device).view_as(y)).sum().backward()
    return y.float().cpu(), x.grad.float().cpu(), m.conv.weight.grad.float().cpu()


def reference_step(m, x):
    m = copy.deepcopy(m).train()
    x = x.clone().requires_grad_(True)
    y = reference_frelu(x, m)
    (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
    return y.detach(), x.grad, m.conv.weight.grad


def inference(m, x, device, dtype=None, channels_last=False, fused=True):
    m = copy.deepcopy(m).eval()
    if fused:
        m = fuse_frelu(m)
    m = m.to(device)
    x = x.to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast(device_type=device, dtype=dtype,
                                         enabled=dtype is not None):
        return m(x).float().cpu()


def eval_reference(m, x):
    m = copy.deepcopy(m).eval()
    with torch.no_grad():
        return torch.maximum(x, m.norm(m.conv(x)))


def assert_close(got, want, tol):
    scale = want.abs().max().clamp(min=1)
    assert (got - want).abs().max() <= tol * scale, float((got - want).abs().max())


# --- CPU: bf16 autocast and channels-last -------------------------------------------------
def test_cpu_bf16_autocast_training_matches_the_formula():
    m, x = layer(), torch.randn(2, 8, 12, 12)
    want = reference_step(m, x)
    for got, ref in zip(train_step(m, x, 'cpu', torch.bfloat16), want):
        assert_close(got, ref, TOLERANCE[torch.bfloat16])


@pytest.mark.parametrize('fused', [True, False], ids=['fused', 'eager'])
@pytest.mark.parametrize('input_dtype', [torch.float32, torch.bfloat16],
                         ids=['fp32_input', 'bf16_input'])  # bf16: what a conv hands over
def test_cpu_bf16_autocast_inference_matches_the_formula(fused, input_dtype):
    m, x = layer(), torch.randn(2, 8, 12, 12).to(input_dtype).float()
    got = inference(m, x.to(input_dtype), 'cpu', torch.bfloat16, fused=fused)
    assert_close(got, eval_reference(m, x), TOLERANCE[torch.bfloat16])


def test_cpu_channels_last_equals_contiguous():
    m, x = layer(), torch.randn(2, 8, 12, 12)
    for a, b in zip(train_step(m, x, 'cpu'), train_step(m, x, 'cpu', channels_last=True)):
        assert_close(a, b, 1e-5)
    assert_close(inference(m, x, 'cpu', channels_last=True), eval_reference(m, x), 1e-5)


# --- CUDA: forward, backward, fused inference, AMP, channels-last -------------------------
@needs_cuda
@pytest.mark.parametrize('k', [1, 3, 5])
def test_cuda_training_matches_the_formula(k):
    m, x = layer(k=k), torch.randn(2, 8, 12, 12)
    for got, ref in zip(train_step(m, x, 'cuda'), reference_step(m, x)):
        assert_close(got, ref, 1e-4)


@needs_cuda
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=['fp16', 'bf16'])
@pytest.mark.parametrize('channels_last', [False, True], ids=['nchw', 'channels_last'])
def test_cuda_amp_training_and_inference(dtype, channels_last):
    m, x = layer(), torch.randn(2, 8, 12, 12)
    got = train_step(m, x, 'cuda', dtype, channels_last)
    for g, ref in zip(got, reference_step(m, x)):
        assert_close(g, ref, TOLERANCE[dtype])
    for fused in (True, False):
        assert_close(inference(m, x, 'cuda', dtype, channels_last, fused=fused),
                     eval_reference(m, x), TOLERANCE[dtype])


@needs_cuda
def test_cuda_fused_inference_float32():
    m, x = layer(), torch.randn(2, 8, 12, 12)
    assert_close(inference(m, x, 'cuda'), eval_reference(m, x), 1e-5)
