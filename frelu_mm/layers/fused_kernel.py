"""The one-pass C++ kernel for a fused FReLU at inference (``csrc/fused_frelu.cpp``).

``y = max(x, dwconv(x) + b)`` (or ``max(dwconv(x) + b, 0)``) in one read of ``x``
and one write of ``y``, for float32 channels-last CPU tensors; an FReLU built with
``inplace=True`` (as mmcv's ConvModule and the frelu_mm backbones build
activations) writes ``y`` over ``x``, like ``ReLU(inplace=True)``. It is compiled with
``torch.utils.cpp_extension.load`` the first time it is needed (cached in torch's
extensions directory, ``TORCH_EXTENSIONS_DIR``, under a name of its own per checkout:
torch rebuilds a cached extension whose source path changed, so two checkouts sharing
one name would rebuild it for each other in turn); if the build fails, ``load_kernel``
returns None once and for all and FReLU keeps its eager path (with a warning where a
stopped build left its lock behind: ``build_lock``). The kernel is only
used where its AVX2+FMA build runs (GCC >= 12, an x86-64-v3 CPU): its baseline
build is correct but slower than PyTorch's own ops. On a CPU with AVX-512 (x86-64-v4)
its rows run 16 lanes wide (``describe`` says which build runs).
"""
import hashlib
import os.path as osp
import warnings

import torch
import torch.nn as nn

from ..compat import is_compiling
from . import build_lock

SOURCE = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc', 'fused_frelu.cpp')
# with the lean training path's one-pass conv backward and its per-channel norm
# arithmetic, files of their own (a change to one does not recompile the others)
SOURCES = [SOURCE] + [osp.join(osp.dirname(SOURCE), f)
                      for f in ('dwconv_grads.cpp', 'norm_coefficients.cpp')]
# the build's name: one per checkout (see above)
BUILD_NAME = 'frelu_mm_fused_frelu_' + hashlib.sha1(SOURCE.encode()).hexdigest()[:10]
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
        build_lock.wait_for_build_lock(build_lock.build_directory(BUILD_NAME))
        load(name=BUILD_NAME, sources=SOURCES,
             extra_cflags=['-O3', '-fopenmp'], extra_ldflags=['-fopenmp'],
             is_python_module=False, verbose=False)
        _fast = bool(torch.ops.frelu_mm.fast_path())
        _kernel = torch.ops.frelu_mm
    except Exception as e:  # no compiler, no ninja, ...: the eager path is used
        build_error = e
        if raise_errors:
            raise
        if isinstance(e, build_lock.StaleBuildLock):  # the user can fix this one
            warnings.warn(f'{e}; FReLU runs its eager path until then', stacklevel=2)
    return _kernel


def describe() -> str:
    """Which build of the kernel runs here, in words (for benchmark headers); builds
    it on first use."""
    ops = load_kernel()
    if ops is None:
        return f'not built ({build_error}): eager ops'
    if not _fast:
        return 'baseline build only (slower than eager ops): eager ops'
    return 'AVX-512 rows (16 lanes)' if ops.wide_rows() else 'AVX2+FMA rows (8 lanes)'


def _configuration_fits(m: nn.Module) -> bool:
    """The module's part of ``eligible``: a depthwise-conv condition with no norm left
    (fused), combine max, stride 1, padding k//2, at most MAX_KERNEL wide."""
    if m.condition != 'dwconv' or m.combine != 'max' or not isinstance(m.norm, nn.Identity):
        return False
    conv = m.conv
    k = conv.kernel_size[0]
    return (type(conv) is nn.Conv2d and conv.kernel_size == (k, k) and k <= MAX_KERNEL
            and conv.stride == (1, 1) and conv.dilation == (1, 1)
            and conv.padding == (k // 2, k // 2) and conv.groups == m.in_channels
            and conv.padding_mode == 'zeros')


def _kernel_arguments(m: nn.Module):
    """``(weight, bias, inplace, with_identity)`` for the kernel if ``m``'s configuration
    fits, else None. Cached on the module (this runs at every no-grad call; the module
    and parameter lookups go through the dicts behind ``nn.Module.__getattr__``) and
    recomputed when its conv, norm or parameters are replaced or an attribute checked
    here changes."""
    mods = m._modules
    conv, norm = mods.get('conv'), mods.get('norm')
    params = conv._parameters if conv is not None else _NO_PARAMS
    weight, bias = params.get('weight'), params.get('bias')
    flags = (m.condition, m.combine, getattr(m, 'inplace', False), m.with_identity)
    cached = m.__dict__.get('_kernel_cache')
    if cached is not None:
        c_conv, c_norm, c_weight, c_bias, c_flags, args = cached
        if c_conv is conv and c_norm is norm and c_weight is weight and c_bias is bias \
                and c_flags == flags:
            return args
    args = None
    if _configuration_fits(m):
        args = (weight, bias if bias is not None else torch.zeros(weight.shape[0],
                                                                  dtype=weight.dtype),
                flags[2], flags[3])
    m.__dict__['_kernel_cache'] = (conv, norm, weight, bias, flags, args)
    return args


_NO_PARAMS: dict = {}
_F32 = torch.float32
_CL = torch.channels_last


def _no_tracing() -> bool:
    return not (torch.is_grad_enabled() or torch.jit.is_tracing() or torch.jit.is_scripting()
                or is_compiling() or torch.onnx.is_in_onnx_export())


def _tensors_fit(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> bool:
    # dtypes are singletons; is_cpu is cheaper than building a device object
    return (x.dtype is _F32 and x.is_cpu and x.dim() == 4
            and x.is_contiguous(memory_format=_CL)
            and weight.dtype is _F32 and weight.is_cpu and bias.dtype is _F32 and bias.is_cpu)


def fused_frelu(m: nn.Module, x: torch.Tensor):
    """FReLU ``m`` on ``x`` through the kernel (over ``x`` if ``m.inplace``), or None
    where it does not apply or is not available (or not faster here).

    It applies with no autograd and no tracing, to a depthwise-conv condition with no
    norm left (fused), combine max, stride 1, padding k//2, float32 CPU weights and a
    float32 channels-last CPU input.
    """
    if not _no_tracing():
        return None
    args = _kernel_arguments(m)
    if args is None:
        return None
    weight, bias, inplace, with_identity = args
    if not _tensors_fit(x, weight, bias):
        return None
    ops = _kernel if _kernel is not None else load_kernel()
    if ops is None or not _fast:
        return None
    return (ops.fused_frelu_ if inplace else ops.fused_frelu)(x, weight, bias, with_identity)


def alike(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` are float32 CPU tensors of one size and layout."""
    return a.dtype is _F32 and b.dtype is _F32 and a.is_cpu and b.is_cpu \
        and a.shape == b.shape and a.stride() == b.stride()


def split_ops(t: torch.Tensor, *others: torch.Tensor):
    """The kernel's ops for the training backward's one-pass gradient split
    (``frelu_grad_split_``, ``frelu_add_rest_``), or None where they do not apply:
    tensors not all float32 CPU with ``t``'s sizes and strides (contiguous or
    channels-last), tracing or
    compiling, ``FReLU.fused_kernel`` off, or no kernel (the build is tried once).

    Args:
        t (Tensor): the tensor written.
        others (Tensor): the tensors read with it.
    """
    from .frelu import FReLU
    if not FReLU.fused_kernel or torch.jit.is_tracing() or is_compiling():
        return None
    if not (t.is_contiguous() or t.is_contiguous(memory_format=_CL)) \
            or not all(alike(t, o) for o in others):
        return None
    return _kernel if _kernel is not None else load_kernel()


def dwconv_ops(x: torch.Tensor, weight: torch.Tensor, bias, padding, *others: torch.Tensor):
    """The kernel's ops for the lean training path's depthwise conv, forward
    (``dwconv``) and backward (``dwconv_input_grad``, ``dwconv_weight_grad``), or None
    where they do not apply: ``x`` (and ``others``) not float32 channels-last CPU
    tensors of one size, a weight that is not float32 ``(C, 1, k, k)`` with odd ``k``
    and padding ``k // 2`` (bias float32 or None), tracing or compiling,
    ``FReLU.fused_kernel`` off, or no fast (AVX2+FMA) build here.

    Args:
        x (Tensor): the conv's input.
        weight (Tensor): the conv's weight.
        bias (Tensor | None): the conv's bias.
        padding (tuple): the conv's padding.
        others (Tensor): more tensors read with ``x`` (e.g. its output's gradient).
    """
    from .frelu import FReLU
    if not FReLU.fused_kernel or torch.jit.is_tracing() or is_compiling():
        return None
    k = weight.shape[-1]
    if not (x.dtype is _F32 and x.is_cpu and x.dim() == 4
            and x.is_contiguous(memory_format=_CL) and all(alike(x, o) for o in others)
            and weight.dtype is _F32 and weight.is_cpu
            and tuple(weight.shape) == (x.shape[1], 1, k, k) and k % 2 == 1
            and k <= MAX_KERNEL and tuple(padding) == (k // 2, k // 2)
            and (bias is None or (bias.dtype is _F32 and bias.is_cpu))):
        return None
    ops = _kernel if _kernel is not None else load_kernel()
    return ops if ops is not None and _fast else None
