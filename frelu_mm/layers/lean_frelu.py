"""A memory-lean FReLU for training: the backward recomputes the condition.

The plain module keeps, per FReLU, the depthwise conv output, the norm output and
both inputs of the max for backward (three tensors of the activation's size beyond
``x``). ``lean_frelu`` keeps only ``x`` (which the conv needs for its weight
gradient anyway) and two ``C``-vectors of batch statistics, and recomputes
``T(x)`` in backward. The mask of the max is re-derived from the recomputed
``T(x)``: forward and backward compute ``T(x)`` with the same kernels (conv, then
``native_batch_norm`` with the same statistics) on the same tensors, so the mask is
bit-identical, and ties split the gradient in half as ``torch.maximum`` does.

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


def supports_lean(m: nn.Module) -> bool:
    """Whether FReLU ``m`` can use ``lean_frelu``.

    Args:
        m (FReLU): the module.
    """
    if m.condition != 'dwconv' or m.combine != 'max':
        return False
    norm = m.norm
    if isinstance(norm, nn.Identity):
        return True
    if not isinstance(norm, _BatchNorm) or type(norm) not in (nn.BatchNorm2d, nn.SyncBatchNorm):
        return False
    if isinstance(norm, nn.SyncBatchNorm) and norm.training and dist.is_available() \
            and dist.is_initialized() and dist.get_world_size() > 1:
        return False  # batch statistics across processes: the plain path does it
    return norm.affine


def _bn_momentum_factor(norm: _BatchNorm) -> float:
    """The running-statistics factor ``nn.BatchNorm2d.forward`` would use (and count)."""
    factor = 0.0 if norm.momentum is None else norm.momentum
    if norm.training and norm.track_running_stats and norm.num_batches_tracked is not None:
        norm.num_batches_tracked.add_(1)
        if norm.momentum is None:
            factor = 1.0 / float(norm.num_batches_tracked)
    return factor


class _LeanFReLU(torch.autograd.Function):
    """``max(base, BN(dwconv(x)))`` saving ``x`` and the BN statistics only."""

    @staticmethod
    def forward(ctx, x, weight, bias, gamma, beta, norm, padding, with_identity):
        c = torch.conv2d(x, weight, bias, 1, padding, 1, x.shape[1])
        if norm is None:
            mean = invstd = running_var = None
            t = c
        else:
            use_batch = norm.training or not norm.track_running_stats
            update = norm.training and norm.track_running_stats
            factor = _bn_momentum_factor(norm) if update else 0.0
            # eval mode: the running statistics as they are now, for the backward
            mean = None if use_batch else norm.running_mean.clone()
            running_var = None if use_batch else norm.running_var.clone()
            t, save_mean, save_invstd = torch.ops.aten.native_batch_norm(
                c, gamma, beta, norm.running_mean if update else mean,
                norm.running_var if update else running_var, use_batch, factor, norm.eps)
            if use_batch:
                mean, invstd = save_mean, save_invstd
            else:
                invstd = None
            del c
        base = x if with_identity else torch.zeros((), dtype=x.dtype, device=x.device)
        y = torch.maximum(base, t)
        ctx.padding = padding
        ctx.with_identity = with_identity
        ctx.has_bias = bias is not None
        ctx.has_norm = norm is not None
        ctx.use_batch = norm is not None and use_batch
        ctx.eps = None if norm is None else norm.eps
        ctx.save_for_backward(x, weight, bias, gamma, beta, mean, invstd, running_var)
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, bias, gamma, beta, mean, invstd, running_var = ctx.saved_tensors
        need = ctx.needs_input_grad
        with torch.no_grad():
            c = torch.conv2d(x, weight, bias, 1, ctx.padding, 1, x.shape[1])
            if ctx.has_norm:
                # the forward's kernel on the same input: a bit-identical T(x)
                t = torch.ops.aten.native_batch_norm(
                    c, gamma, beta, None if ctx.use_batch else mean, running_var,
                    ctx.use_batch, 0.0, ctx.eps)[0]
            else:
                t = c
            base = x if ctx.with_identity else torch.zeros((), dtype=x.dtype, device=x.device)
            # share of the gradient going to T(x): 1 where T wins, 1/2 on ties, else 0,
            # exactly as torch.maximum splits it.
            g_t = t.sub_(base).sign_().add_(1).mul_(0.5).mul_(g)
            del t
            grad_gamma = grad_beta = None
            if ctx.has_norm:
                g_c, grad_gamma, grad_beta = torch.ops.aten.native_batch_norm_backward(
                    g_t, c, gamma, None if ctx.use_batch else mean, running_var,
                    mean if ctx.use_batch else None, invstd,
                    ctx.use_batch, ctx.eps, [True, need[3], need[4]])
            else:
                g_c = g_t
            del c
            g_x, g_w, g_b = torch.ops.aten.convolution_backward(
                g_c, x, weight, None if bias is None else [bias.shape[0]], [1, 1],
                list(ctx.padding), [1, 1], False, [0, 0], x.shape[1],
                [need[0], need[1], need[2] and ctx.has_bias])
            if need[0] and ctx.with_identity:
                g_x = g_x.add_(g_t.neg_().add_(g))  # g - g_t: x's exact share
        return g_x, g_w, g_b, grad_gamma, grad_beta, None, None, None


def lean_frelu(x: torch.Tensor, m: nn.Module) -> torch.Tensor:
    """FReLU ``m`` applied to ``x`` with the lean backward (see the module docstring).

    Args:
        x (Tensor): ``(N, C, H, W)`` input.
        m (FReLU): a module for which ``supports_lean(m)`` holds.

    Returns:
        Tensor: the same values as ``m``'s plain forward.
    """
    norm: Optional[_BatchNorm] = None if isinstance(m.norm, nn.Identity) else m.norm
    gamma = None if norm is None else norm.weight
    beta = None if norm is None else norm.bias
    return _LeanFReLU.apply(x, m.conv.weight, m.conv.bias, gamma, beta, norm,
                            m.conv.padding, m.with_identity)
