"""A memory-lean FReLU for training: the backward recomputes the condition.

The plain module keeps, per FReLU, the depthwise conv output, the norm output and
both inputs of the max for backward (three tensors of the activation's size beyond
``x``). ``lean_frelu`` keeps only ``x`` (which the conv needs for its weight
gradient anyway) and two ``C``-vectors of batch statistics, and recomputes
``T(x)`` in backward. The mask of the max is re-derived from the recomputed
``T(x)``: forward and backward compute ``T(x)`` with the same kernels (conv, then
``native_batch_norm`` with the same statistics) on the same tensors, so the mask is
bit-identical, and ties split the gradient in half as ``torch.maximum`` does.

``lean_norm_frelu`` goes one step further where FReLU follows a BatchNorm, as in
every ResNet block: ``FReLU(BN(c) [+ identity])`` in one Function that keeps the
BN's input ``c`` (which BN keeps anyway) instead of ``x``, and recomputes ``x`` (an
elementwise pass) in backward. An FReLU site then keeps as many activation-sized
tensors as a ReLU site: ``c``, and the output that the next conv keeps.

Supported: ``condition='dwconv'``, ``combine='max'``, ``with_identity`` True or
False, a ``BatchNorm2d``/``SyncBatchNorm`` (train mode: batch statistics, running
statistics updated once; eval mode: running statistics; SyncBN only when not
distributed) or no norm, any odd kernel, conv bias or not. ``supports_lean``
says whether a module qualifies; other FReLUs use the plain autograd graph.
"""
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from .fused_kernel import split_ops


def lean_norm_ok(norm: nn.Module) -> bool:
    """Whether ``norm`` is a BatchNorm the lean Functions can apply themselves."""
    if type(norm) not in (nn.BatchNorm2d, nn.SyncBatchNorm):
        return False
    if isinstance(norm, nn.SyncBatchNorm) and norm.training and dist.is_available() \
            and dist.is_initialized() and dist.get_world_size() > 1:
        return False  # batch statistics across processes: the plain path does it
    return norm.affine


def supports_lean(m: nn.Module) -> bool:
    """Whether FReLU ``m`` can use ``lean_frelu``.

    Args:
        m (FReLU): the module.
    """
    if m.condition != 'dwconv' or m.combine != 'max':
        return False
    return isinstance(m.norm, nn.Identity) or lean_norm_ok(m.norm)


def _bn_momentum_factor(norm: _BatchNorm) -> float:
    """The running-statistics factor ``nn.BatchNorm2d.forward`` would use (and count)."""
    factor = 0.0 if norm.momentum is None else norm.momentum
    if norm.training and norm.track_running_stats and norm.num_batches_tracked is not None:
        norm.num_batches_tracked.add_(1)
        if norm.momentum is None:
            factor = 1.0 / float(norm.num_batches_tracked)
    return factor


class _AppliedNorm:
    """How a lean Function applies one BatchNorm (or none): the forward, updating the
    running statistics once; a bit-identical recompute (the same kernel on the same
    input with the same statistics); and the backward."""

    def __init__(self, norm: Optional[_BatchNorm]):
        self.present = norm is not None
        if norm is None:
            return
        self.eps = norm.eps
        self.use_batch = norm.training or not norm.track_running_stats
        update = norm.training and norm.track_running_stats
        self.factor = _bn_momentum_factor(norm) if update else 0.0
        self.running = (norm.running_mean, norm.running_var) if update else None
        # eval mode: the running statistics as they are now, for the backward
        self.mean = None if self.use_batch else norm.running_mean.clone()
        self.var = None if self.use_batch else norm.running_var.clone()
        self.save_mean = self.save_invstd = None

    def forward(self, c, gamma, beta):
        if not self.present:
            return c
        mean, var = self.running if self.running is not None else (self.mean, self.var)
        out, save_mean, save_invstd = torch.ops.aten.native_batch_norm(
            c, gamma, beta, mean, var, self.use_batch, self.factor, self.eps)
        if self.use_batch:
            self.save_mean, self.save_invstd = save_mean, save_invstd
        self.running = None  # updated; the module's buffers are not ours to keep
        return out

    def recompute(self, c, gamma, beta):
        if not self.present:
            return c
        return torch.ops.aten.native_batch_norm(c, gamma, beta, self.mean, self.var,
                                                self.use_batch, 0.0, self.eps)[0]

    def backward(self, g, c, gamma, need_input, need_gamma, need_beta):
        """Gradients of input, gamma and beta (None where not needed)."""
        if not self.present:
            return (g if need_input else None), None, None
        return torch.ops.aten.native_batch_norm_backward(
            g, c, gamma, self.mean, self.var, self.save_mean, self.save_invstd,
            self.use_batch, self.eps, [need_input, need_gamma, need_beta])


def _base(x, with_identity):
    return x if with_identity else torch.zeros((), dtype=x.dtype, device=x.device)


def _frelu_forward(x, weight, bias, fnorm, gamma, beta, padding, with_identity):
    """``max(base, T(x))`` into T's fresh buffer (no autograd here)."""
    t = fnorm.forward(torch.conv2d(x, weight, bias, 1, padding, 1, x.shape[1]), gamma, beta)
    if torch.jit.is_tracing():  # ONNX export traces this: no out= there
        return torch.maximum(_base(x, with_identity), t)
    return torch.maximum(_base(x, with_identity), t, out=t)


def _frelu_backward(g, x, weight, bias, fnorm, gamma, beta, padding, with_identity, need):
    """Gradients of (x, weight, bias, gamma, beta) from the output gradient ``g``,
    recomputing ``T(x)``; ``need``: which of them are needed."""
    c = torch.conv2d(x, weight, bias, 1, padding, 1, x.shape[1])
    t = fnorm.recompute(c, gamma, beta)
    # share of the gradient going to T(x): 1 where T wins, 1/2 on ties, else 0,
    # exactly as torch.maximum splits it; one pass in the C++ kernel where it applies
    ops = split_ops(t, x, g)
    if ops is not None:
        g_t = ops.frelu_grad_split_(t, x, g, with_identity)
    else:
        g_t = t.sub_(_base(x, with_identity)).sign_().add_(1).mul_(0.5).mul_(g)
    del t
    g_c, g_gamma, g_beta = fnorm.backward(g_t, c, gamma, True, need[3], need[4])
    del c
    g_x, g_w, g_b = torch.ops.aten.convolution_backward(
        g_c, x, weight, None if bias is None else [bias.shape[0]], [1, 1], list(padding),
        [1, 1], False, [0, 0], x.shape[1], [need[0], need[1], need[2] and bias is not None])
    if need[0] and with_identity:
        ops = split_ops(g_x, g, g_t)
        if ops is not None:
            ops.frelu_add_rest_(g_x, g, g_t)  # g_x + (g - g_t), one pass
        else:
            g_x = g_x.add_(g_t.neg_().add_(g))  # g - g_t: x's exact share
    return g_x, g_w, g_b, g_gamma, g_beta


class _LeanFReLU(torch.autograd.Function):
    """``max(base, BN(dwconv(x)))`` saving ``x`` and the BN statistics only."""

    @staticmethod
    def forward(ctx, x, weight, bias, gamma, beta, norm, padding, with_identity):
        ctx.fnorm = _AppliedNorm(norm)
        ctx.padding, ctx.with_identity = padding, with_identity
        y = _frelu_forward(x, weight, bias, ctx.fnorm, gamma, beta, padding, with_identity)
        ctx.save_for_backward(x, weight, bias, gamma, beta)
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, bias, gamma, beta = ctx.saved_tensors
        with torch.no_grad():
            grads = _frelu_backward(g, x, weight, bias, ctx.fnorm, gamma, beta, ctx.padding,
                                    ctx.with_identity, ctx.needs_input_grad[:5])
        return (*grads, None, None, None)


class _LeanNormFReLU(torch.autograd.Function):
    """``FReLU(BN(c) [+ identity])`` saving ``c`` (and ``identity``), not ``x``."""

    @staticmethod
    def forward(ctx, c, identity, n_gamma, n_beta, norm, weight, bias, gamma, beta, fnorm,
                padding, with_identity):
        ctx.norm, ctx.fnorm = _AppliedNorm(norm), _AppliedNorm(fnorm)
        ctx.padding, ctx.with_identity = padding, with_identity
        x = ctx.norm.forward(c, n_gamma, n_beta)
        if identity is not None:
            x = x.add_(identity)
        y = _frelu_forward(x, weight, bias, ctx.fnorm, gamma, beta, padding, with_identity)
        ctx.save_for_backward(c, identity, n_gamma, n_beta, weight, bias, gamma, beta)
        return y

    @staticmethod
    def backward(ctx, g):
        c, identity, n_gamma, n_beta, weight, bias, gamma, beta = ctx.saved_tensors
        need = ctx.needs_input_grad
        with torch.no_grad():
            x = ctx.norm.recompute(c, n_gamma, n_beta)  # bit-identical to the forward's
            if identity is not None:
                x = x.add_(identity)
            g_x, g_w, g_b, g_gamma, g_beta = _frelu_backward(
                g, x, weight, bias, ctx.fnorm, gamma, beta, ctx.padding, ctx.with_identity,
                (True, need[5], need[6], need[7], need[8]))
            del x
            g_c, g_ngamma, g_nbeta = ctx.norm.backward(g_x, c, n_gamma, need[0], need[2],
                                                       need[3])
        g_identity = g_x if identity is not None and need[1] else None
        return (g_c, g_identity, g_ngamma, g_nbeta, None, g_w, g_b, g_gamma, g_beta,
                None, None, None)


def _frelu_params(m: nn.Module):
    norm: Optional[_BatchNorm] = None if isinstance(m.norm, nn.Identity) else m.norm
    gamma = None if norm is None else norm.weight
    beta = None if norm is None else norm.bias
    return m.conv.weight, m.conv.bias, gamma, beta, norm


def lean_frelu(x: torch.Tensor, m: nn.Module) -> torch.Tensor:
    """FReLU ``m`` applied to ``x`` with the lean backward (see the module docstring).

    Args:
        x (Tensor): ``(N, C, H, W)`` input.
        m (FReLU): a module for which ``supports_lean(m)`` holds.

    Returns:
        Tensor: the same values as ``m``'s plain forward.
    """
    weight, bias, gamma, beta, norm = _frelu_params(m)
    return _LeanFReLU.apply(x, weight, bias, gamma, beta, norm, m.conv.padding,
                            m.with_identity)


def lean_norm_frelu(c: torch.Tensor, norm: _BatchNorm, m: nn.Module,
                    identity: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``m(norm(c) + identity)`` (no ``identity``: ``m(norm(c))``), keeping ``c``
    instead of ``norm``'s output for backward (see the module docstring).

    Args:
        c (Tensor): the input of ``norm``, ``(N, C, H, W)``.
        norm (_BatchNorm): a norm for which ``lean_norm_ok(norm)`` holds.
        m (FReLU): a module for which ``supports_lean(m)`` holds.
        identity (Tensor | None): added after the norm (a residual branch).
    """
    weight, bias, gamma, beta, fnorm = _frelu_params(m)
    return _LeanNormFReLU.apply(c, identity, norm.weight, norm.bias, norm, weight, bias,
                                gamma, beta, fnorm, m.conv.padding, m.with_identity)
