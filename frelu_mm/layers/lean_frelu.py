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
elementwise pass) in backward. Where the residual branch ends in a BatchNorm (a
block's downsample: conv, norm), the Function applies that norm too and keeps its
input rather than the branch's output, which ReLU's add does not keep. An FReLU site
then keeps as many activation-sized tensors as a ReLU site: ``c``, and the output
that the next conv keeps.

Where the tensors are float32 channels-last on the CPU (and the AVX2 build of
``csrc/fused_frelu.cpp`` runs), the condition runs in C++ (``_kernel_backward``), its
norm folded into the depthwise conv (``_AppliedNorm.fold``): ``t = (conv(x) +
bias_c) * scale + shift``, with the running statistics (eval mode, as under a
backbone's ``norm_eval=True``) or the batch statistics, summed over the conv's output
by a first pass that writes nothing (``dwconv_moments``). The forward is then one
pass, ``y = max(x, t)`` (over the host norm's fresh output in ``lean_norm_frelu``).
The backward recomputes the condition inside the split (``g_t`` with the norm's sums,
one pass of the forward's kernel, so the mask is bit-identical), then the conv's input
and weight gradients in one pass (``csrc/dwconv_grads.cpp``), x's own share added in
it. A frozen norm needs no conv output at all; with batch statistics that pass makes
the norm's input gradient (the conv output recomputed) row by row just ahead of the
rows that read it, never whole. In ``lean_norm_frelu`` the host norm (and the
residual add) is one C++ pass too, ``c * scale + shift [+ identity]``, its batch
statistics from the moments kernel, in forward and recompute alike; its backward stays
``native_batch_norm_backward``. The norms' per-channel arithmetic is one C++ call each
(``csrc/norm_coefficients.cpp``). Scratch buffers (``_Scratch``) serve every site's
backward for the tensors it drops.
Elsewhere (NCHW, float64, bf16, GPUs) the same Functions use aten's ops.

Supported: ``condition='dwconv'``, ``combine='max'``, ``with_identity`` True or
False, a ``BatchNorm2d``/``SyncBatchNorm`` (train mode: batch statistics, running
statistics updated once; eval mode: running statistics; SyncBN only when not
distributed) or no norm, any odd kernel, conv bias or not. ``supports_lean``
says whether a module qualifies; other FReLUs use the plain autograd graph.
"""
import threading
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from .fused_kernel import alike, dwconv_ops, split_ops


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

    def _statistics(self, moments):
        """The arguments of the C++ norm arithmetic (``csrc/norm_coefficients.cpp``)
        after ``moments``: the batch moments with the running statistics to update
        once (batch mode), or the frozen statistics."""
        if self.use_batch:
            running, self.running = self.running, None
            return (moments, *(running or (None, None)), running is not None,
                    self.factor, self.eps)
        return None, self.mean, self.var, False, 0.0, self.eps

    def forward_affine(self, c, gamma, beta, ops):
        """The C++ kernels' form of ``forward`` (``c`` float32 channels-last): the
        float32 ``(scale, shift)`` with ``norm(c) = c * scale + shift``, from the
        moments kernel (batch mode) or the running statistics. Kept for the backward
        (``native_batch_norm_backward``)."""
        moments = ops.channel_moments(c) if self.use_batch else None
        m, *rest = self._statistics(moments)
        self.scale, self.shift, mean, invstd = ops.host_norm_affine(
            m, c.numel() // c.shape[1], *rest, gamma, beta)
        if self.use_batch:
            self.save_mean, self.save_invstd = mean, invstd
        return self.scale, self.shift

    def fold(self, ops, bias, gamma, beta, moments=None, m=1):
        """The C++ kernels' form of the condition's norm, folded into its conv:
        float32 ``(bias_c, scale, shift)`` with ``norm(conv(x) + bias) = (conv(x) +
        bias_c) * scale + shift``, ``bias_c`` the conv's bias less the mean: the
        running mean (eval mode), or in batch mode the batch mean from the conv
        output's ``moments`` over ``m`` values per channel (``dwconv_moments``).
        Kept for the backward (``folded``, and ``stats``: float64 mean and
        ``1 / sqrt(var + eps)``, ``(2, C)``)."""
        moments, *rest = self._statistics(moments)
        *self.folded, self.stats = ops.folded_norm(moments, m, *rest, gamma, beta, bias)
        return self.folded

    def backward(self, g, c, gamma, need_input, need_gamma, need_beta):
        """Gradients of input, gamma and beta (None where not needed)."""
        if not self.present:
            return (g if need_input else None), None, None
        return torch.ops.aten.native_batch_norm_backward(
            g, c, gamma, self.mean, self.var, self.save_mean, self.save_invstd,
            self.use_batch, self.eps, [need_input, need_gamma, need_beta])


class _Scratch(threading.local):
    """Activation-sized buffers that the C++ backward reuses from FReLU site to site
    for tensors it reads and drops (the recomputed condition's share, the batch path's
    norm input gradient), instead of new ones at each site. A new tensor of that size
    is often fresh memory from the OS, whose first touch page-faults, page by page
    (measured here: 1-8 us a page, up to 50 ms for a ResNet-50 layer1 tensor at b8
    224). The backward's sites run from the deepest (smallest) to the first: the
    buffers grow in the first backward to the largest site's size and are kept from
    step to step, as a caching allocator keeps its blocks (``release_scratch`` frees
    them). One set per thread. (An output gradient in another layout, e.g. a stage
    output's, is laid out again as ``x`` in a new tensor instead: that happens at a few
    sites a step, and a slot kept for it would hold the largest of them between steps,
    at the step's peak.)"""

    slots = 2

    def __init__(self):
        self.flats, self.busy = [None] * self.slots, [False] * self.slots

    def take(self, like: torch.Tensor) -> torch.Tensor:
        """A tensor laid out as ``like`` (dense), its values undefined, from a free
        slot; a new one if every slot is taken (until ``give``)."""
        if all(self.busy):
            return torch.empty_like(like)
        i = self.busy.index(False)
        n, flat = like.numel(), self.flats[i]
        if flat is None or flat.numel() < n or flat.dtype != like.dtype \
                or flat.device != like.device:
            self.flats[i] = flat = None  # the old one goes first: never both at once
            self.flats[i] = flat = torch.empty(n, dtype=like.dtype, device=like.device)
        self.busy[i] = True
        return flat[:n].as_strided(like.shape, like.stride())

    def give(self) -> None:
        """The tensors from ``take`` are no longer used."""
        self.busy = [False] * self.slots

    def release(self) -> None:
        self.flats, self.busy = [None] * self.slots, [False] * self.slots


_scratch = _Scratch()


def release_scratch() -> None:
    """Free the lean backward's scratch buffers (this thread's), e.g. after training;
    the next backward allocates them again."""
    _scratch.release()


def _base(x, with_identity):
    return x if with_identity else torch.zeros((), dtype=x.dtype, device=x.device)


def _kernel_norm_ops(x, weight, bias, fnorm, padding, *others):
    """The C++ ops for the whole condition (conv, norm, max) where a norm is present and
    the conv's kernels apply, else None."""
    return dwconv_ops(x, weight, bias, padding, *others) if fnorm.present else None


def _bias(weight, bias):
    return bias if bias is not None else weight.new_zeros(weight.shape[0])


def _frelu_forward(x, weight, bias, fnorm, gamma, beta, padding, with_identity, inplace=False):
    """``max(base, T(x))`` into T's fresh buffer (no autograd here); with a frozen norm
    in the C++ kernels, one pass, over ``x`` if ``inplace`` (``x`` is not needed
    after)."""
    ops = _kernel_norm_ops(x, weight, bias, fnorm, padding)
    if ops is not None:  # norm folded into the conv: one pass (batch mode: after one
        # pass for the conv output's moments, which writes nothing)
        moments = ops.dwconv_moments(x, weight, _bias(weight, bias)) if fnorm.use_batch \
            else None
        folded = fnorm.fold(ops, bias, gamma, beta, moments, x.numel() // x.shape[1])
        return (ops.frelu_folded_ if inplace else ops.frelu_folded)(x, weight, *folded,
                                                                    with_identity)
    t = fnorm.forward(_dwconv(x, weight, bias, padding), gamma, beta)
    if torch.jit.is_tracing():  # ONNX export traces this: no out= there
        return torch.maximum(_base(x, with_identity), t)
    return torch.maximum(_base(x, with_identity), t, out=t)


def _dwconv(x, weight, bias, padding):
    """The depthwise conv of FReLU's condition: the C++ row kernel where it applies
    (``dwconv_ops``), else ``conv2d``. The forward and the backward's recompute take
    the same path, so the recompute is bit-identical."""
    ops = dwconv_ops(x, weight, bias, padding)
    if ops is None:
        return torch.conv2d(x, weight, bias, 1, padding, 1, x.shape[1])
    return ops.dwconv(x, weight, _bias(weight, bias))


def _dwconv_backward(g_c, x, weight, bias, padding, need, rest=None, out=None):
    """Gradients of the depthwise conv's (input, weight, bias) from its output's
    ``g_c``: the C++ kernels where they apply (``dwconv_ops``), else aten's. Only where
    they apply: ``rest``, ``(a, b)`` whose ``a - b`` is added to the input's gradient
    in the same pass; ``out``, a buffer for the input's gradient (may be ``a``, ``b``,
    or ``x``: each pixel of ``x`` is read before it is written). Input and weight
    gradients together take one pass (``dwconv_grads_into_``)."""
    need_b = need[2] and bias is not None
    ops = dwconv_ops(x, weight, bias, padding, g_c)
    if ops is None:
        return torch.ops.aten.convolution_backward(
            g_c, x, weight, None if bias is None else [bias.shape[0]], [1, 1],
            list(padding), [1, 1], False, [0, 0], x.shape[1], [need[0], need[1], need_b])
    rest = rest or (None, None)
    if need[0]:
        out = torch.empty_like(g_c) if out is None else out
    sums = g_x = None
    if need[0] and (need[1] or need_b):
        sums = ops.dwconv_grads_into_(out, g_c, weight, x, *rest)
        g_x = out
    elif need[0]:
        g_x = ops.dwconv_input_grad_into_(out, g_c, weight, *rest)
    elif need[1] or need_b:
        sums = ops.dwconv_weight_grad(g_c, x, weight.shape[-1])
    g_w = sums[:, :-1].reshape(weight.shape) if need[1] else None
    g_b = sums[:, -1].contiguous() if need_b else None
    return g_x, g_w, g_b


def _frelu_backward(g, x, weight, bias, fnorm, gamma, beta, padding, with_identity, need,
                    x_owned=False):
    """Gradients of (x, weight, bias, gamma, beta) from the output gradient ``g``,
    recomputing ``T(x)``; ``need``: which of them are needed; ``x_owned``: ``x`` is
    a recompute, free to overwrite once read."""
    ops = _kernel_norm_ops(x, weight, bias, fnorm, padding)
    if g.stride() != x.stride() and g.shape == x.shape:  # e.g. NCHW from a mean's
        # gradient: laid out as x
        g = torch.empty_like(x).copy_(g)
    if ops is not None and alike(x, g):
        return _kernel_backward(ops, g, x, weight, bias, fnorm, gamma, padding,
                                with_identity, need, x_owned)
    c = _dwconv(x, weight, bias, padding)
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
    g_x, g_w, g_b = _dwconv_backward(g_c, x, weight, bias, padding, need)
    if need[0] and with_identity:
        ops = split_ops(g_x, g, g_t)
        if ops is not None:
            ops.frelu_add_rest_(g_x, g, g_t)  # g_x + (g - g_t), one pass
        else:
            g_x = g_x.add_(g_t.neg_().add_(g))  # g - g_t: x's exact share
    return g_x, g_w, g_b, g_gamma, g_beta


def _kernel_backward(ops, g, x, weight, bias, fnorm, gamma, padding, with_identity, need,
                     x_owned=False):
    """``_frelu_backward`` in the C++ kernels, the norm folded into the conv
    (``fnorm.fold``): the condition recomputed with the max's split ``g_t`` and the
    norm's sums in one pass (the forward's kernel, so its mask), then the conv's weight
    and input gradients, x's own share ``g - g_t`` added in the input gradient's pass.
    The input gradient is written over ``x`` if ``x_owned`` (a recompute, read last).

    A frozen norm: the conv's output gradient is ``g_t * scale`` per channel, folded
    into the conv's gradients. Batch statistics: it is ``a g_t + b u + d``, ``u`` the
    folded conv's output, recomputed in the pass that writes it."""
    bias_c, scale, shift = fnorm.folded
    g_t, sums = ops.frelu_folded_split(x, g, weight, bias_c, scale, shift, with_identity,
                                       _scratch.take(x))
    rest = (g, g_t) if with_identity else (None, None)  # x's own share g - g_t
    out = (x if x_owned else torch.empty_like(g_t)) if need[0] else None
    g_w = g_x = g_b = None
    if fnorm.use_batch:
        a, b, d, g_gamma, g_beta = ops.folded_norm_backward(sums, fnorm.stats, gamma, bias,
                                                            bias_c, x.numel() // x.shape[1])
        need_b = need[2] and bias is not None
        if need[0] and (need[1] or need_b):  # one pass, the norm's gradient made in it
            taps = ops.dwconv_bn_grads_into_(out, x, weight, bias_c, g_t, a, b, d, *rest)
            g_x = out
            g_w = taps[:, :-1].reshape(weight.shape) if need[1] else None
            g_b = taps[:, -1].contiguous() if need_b else None
        else:
            g_c = ops.dwconv_bn_grad_into_(_scratch.take(x), x, weight, bias_c, g_t, a, b, d)
            g_x, g_w, g_b = _dwconv_backward(g_c, x, weight, bias, padding, need, rest, out)
            del g_c
    else:
        g_gamma, g_beta = sums[1] * fnorm.stats[1], sums[0]
        if need[2] and bias is not None:
            g_b = (sums[0] * scale.double()).to(bias.dtype)
        # the conv with its weight scaled takes g_t; its weight gradient (x times
        # g_t's windows) is then scaled as the weight was
        g_x, g_w, _ = _dwconv_backward(g_t, x, weight * scale.view(-1, 1, 1, 1), None,
                                       padding, (need[0], need[1], False), rest, out)
        if need[1]:
            g_w = g_w * scale.view(-1, 1, 1, 1)
    del g_t
    _scratch.give()
    return (g_x, g_w, g_b, g_gamma.to(gamma.dtype) if need[3] else None,
            g_beta.to(gamma.dtype) if need[4] else None)


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


def _host_norm_ops(c, identity, weight, bias, padding):
    """The C++ ops for ``_LeanNormFReLU``'s host norm (``c * scale + shift [+ identity]``
    in one pass, the statistics from the moments kernel) where the FReLU's own kernels
    apply to its output, else None."""
    return dwconv_ops(c, weight, bias, padding, *(() if identity is None else (identity,)))


def _host_norm(applied, ops, c, identity, gamma, beta, recompute=False):
    """``norm(c) [+ identity]`` for ``_LeanNormFReLU`` (``applied``: its
    ``_AppliedNorm``), a fresh tensor: in the C++ pass (``ops``, after
    ``forward_affine``) or by aten; the recompute takes the forward's path with the same
    statistics, so it is bit-identical."""
    if ops is not None:
        return ops.norm_affine(c, applied.scale, applied.shift, identity)
    x = applied.recompute(c, gamma, beta) if recompute else applied.forward(c, gamma, beta)
    return x if identity is None else x.add_(identity)


def _residual(ctx, r, gamma, beta, recompute=False):
    """The residual branch: ``r`` itself, or with ``ctx.rnorm`` (the branch's last
    module, a BatchNorm) its output ``rnorm(r)``, made here (and again in backward)
    instead of kept."""
    if r is None or not ctx.rnorm.present:
        return r
    return _host_norm(ctx.rnorm, ctx.norm_ops, r, None, gamma, beta, recompute=recompute)


class _LeanNormFReLU(torch.autograd.Function):
    """``FReLU(BN(c) [+ identity])`` saving ``c`` (and ``identity``), not ``x``; with a
    residual norm, ``identity = rnorm(r)`` saving ``r`` (which that norm keeps anyway)."""

    @staticmethod
    def forward(ctx, c, r, n_gamma, n_beta, r_gamma, r_beta, norm, rnorm, weight, bias,
                gamma, beta, fnorm, padding, with_identity):
        ctx.norm, ctx.rnorm, ctx.fnorm = _AppliedNorm(norm), _AppliedNorm(rnorm), \
            _AppliedNorm(fnorm)
        ctx.padding, ctx.with_identity = padding, with_identity
        ctx.norm_ops = _host_norm_ops(c, r, weight, bias, padding)
        if ctx.norm_ops is not None:
            ctx.norm.forward_affine(c, n_gamma, n_beta, ctx.norm_ops)
            if ctx.rnorm.present:
                ctx.rnorm.forward_affine(r, r_gamma, r_beta, ctx.norm_ops)
        x = _host_norm(ctx.norm, ctx.norm_ops, c, _residual(ctx, r, r_gamma, r_beta),
                       n_gamma, n_beta)
        # x is the norm's fresh output, recomputed in backward: y may overwrite it
        y = _frelu_forward(x, weight, bias, ctx.fnorm, gamma, beta, padding, with_identity,
                           inplace=x is not c)
        ctx.save_for_backward(c, r, n_gamma, n_beta, r_gamma, r_beta, weight, bias, gamma,
                              beta)
        return y

    @staticmethod
    def backward(ctx, g):
        c, r, n_gamma, n_beta, r_gamma, r_beta, weight, bias, gamma, beta = ctx.saved_tensors
        need = ctx.needs_input_grad
        with torch.no_grad():
            x = _host_norm(ctx.norm, ctx.norm_ops, c,
                           _residual(ctx, r, r_gamma, r_beta, recompute=True),
                           n_gamma, n_beta, recompute=True)
            g_x, g_w, g_b, g_gamma, g_beta = _frelu_backward(
                g, x, weight, bias, ctx.fnorm, gamma, beta, ctx.padding, ctx.with_identity,
                (True, need[8], need[9], need[10], need[11]), x_owned=x is not c)
            del x
            g_c, g_ngamma, g_nbeta = ctx.norm.backward(g_x, c, n_gamma, need[0], need[2],
                                                       need[3])
            g_r = g_rgamma = g_rbeta = None
            if r is not None:  # the residual's share is g_x, through its norm if any
                g_r, g_rgamma, g_rbeta = ctx.rnorm.backward(g_x, r, r_gamma, need[1],
                                                            need[4], need[5])
        return (g_c, g_r, g_ngamma, g_nbeta, g_rgamma, g_rbeta, None, None, g_w, g_b,
                g_gamma, g_beta, None, None, None)


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
                    identity: Optional[torch.Tensor] = None,
                    identity_norm: Optional[_BatchNorm] = None) -> torch.Tensor:
    """``m(norm(c) + identity)`` (no ``identity``: ``m(norm(c))``), keeping ``c``
    instead of ``norm``'s output for backward (see the module docstring).

    Args:
        c (Tensor): the input of ``norm``, ``(N, C, H, W)``.
        norm (_BatchNorm): a norm for which ``lean_norm_ok(norm)`` holds.
        m (FReLU): a module for which ``supports_lean(m)`` holds.
        identity (Tensor | None): added after the norm (a residual branch).
        identity_norm (_BatchNorm | None): the residual branch's last module, for which
            ``lean_norm_ok`` holds: ``identity`` is then its input, and
            ``identity_norm(identity)`` is added (and recomputed in backward, keeping
            ``identity``, as the norm would, instead of its output).
    """
    weight, bias, gamma, beta, fnorm = _frelu_params(m)
    r_gamma, r_beta = (None, None) if identity_norm is None else \
        (identity_norm.weight, identity_norm.bias)
    return _LeanNormFReLU.apply(c, identity, norm.weight, norm.bias, r_gamma, r_beta, norm,
                                identity_norm, weight, bias, gamma, beta, fnorm,
                                m.conv.padding, m.with_identity)
