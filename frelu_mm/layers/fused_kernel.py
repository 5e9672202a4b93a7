"""The one-pass C++ kernel for a fused FReLU at inference (``csrc/fused_frelu.cpp``).

``y = max(x, dwconv(x) + b)`` (or ``max(dwconv(x) + b, 0)``) in one read of ``x``
and one write of ``y``, for float32 channels-last CPU tensors; an FReLU built with
``inplace=True`` (as mmcv's ConvModule and the frelu_mm backbones build
activations) writes ``y`` over ``x``, like ``ReLU(inplace=True)``. It is compiled with
``torch.utils.cpp_extension.load`` the first time it is needed (cached in torch's
extensions directory, ``TORCH_EXTENSIONS_DIR``); if the build fails, ``load_kernel``
returns None once and for all and FReLU keeps its eager path. The kernel is only
used where its AVX2+FMA build runs (GCC >= 12, an x86-64-v3 CPU): its baseline
build is correct but slower than PyTorch's own ops.
"""
import os.path as osp

import torch
import torch.nn as nn

SOURCE = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc', 'fused_frelu.cpp')
MAX_KERNEL = 15  # MAXK of the C++ source
_kernel = None
_tried = False
_fast = False  # the AVX2+FMA build runs here (set by load_kernel)
build_error = None  # why the build failed, if it did (the fallback is silent)


def load_kernel(raise_errors: bool = False):
    """The compiled extension, building it on first use; None if it cannot be built.

    Args:
        raise_errors (bool): re-raise a build error instead of returning None.
    """
    global _kernel, _tried, _fast, build_error
    if _kernel is not None or (_tried and not raise_errors):
        return _kernel
    _tried = True
    try:
        from torch.utils.cpp_extension import load
        load(name='frelu_mm_fused_frelu', sources=[SOURCE],
             extra_cflags=['-O3', '-fopenmp'], extra_ldflags=['-fopenmp'],
             is_python_module=False, verbose=False)
        _fast = bool(torch.ops.frelu_mm.fast_path())
        _kernel = torch.ops.frelu_mm
    except Exception as e:  # no compiler, no ninja, ...: the eager path is used
        build_error = e
        if raise_errors:
            raise
    return _kernel


def eligible(m: nn.Module, x: torch.Tensor) -> bool:
    """Whether FReLU ``m`` on ``x`` can run the kernel: no autograd and no tracing,
    a depthwise-conv condition with no norm left (fused), combine max, stride 1,
    padding k//2, and a float32 channels-last CPU input.
    """
    if torch.is_grad_enabled() or torch.jit.is_tracing() or torch.jit.is_scripting() \
            or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
        return False
    if m.condition != 'dwconv' or m.combine != 'max' or not isinstance(m.norm, nn.Identity):
        return False
    conv = m.conv
    k = conv.kernel_size[0]
    if type(conv) is not nn.Conv2d or conv.kernel_size != (k, k) or k > MAX_KERNEL or conv.stride != (1, 1) \
            or conv.dilation != (1, 1) or conv.padding != (k // 2, k // 2) \
            or conv.groups != m.in_channels or conv.padding_mode != 'zeros' \
            or conv.weight.dtype != torch.float32 \
            or (conv.bias is not None and conv.bias.dtype != torch.float32):
        return False
    return (x.device.type == 'cpu' and x.dtype == torch.float32 and x.dim() == 4
            and x.is_contiguous(memory_format=torch.channels_last)
            and conv.weight.device.type == 'cpu')


def fused_frelu(m: nn.Module, x: torch.Tensor):
    """FReLU ``m`` on ``x`` through the kernel (over ``x`` if ``m.inplace``), or None
    if it is not available (or not faster here)."""
    ops = load_kernel()
    if ops is None or not _fast:
        return None
    conv = m.conv
    bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.weight.shape[0])
    op = ops.fused_frelu_ if getattr(m, 'inplace', False) else ops.fused_frelu
    return op(x, conv.weight, bias, m.with_identity)
