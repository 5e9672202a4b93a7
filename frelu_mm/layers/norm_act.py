"""``act(norm(c) [+ identity])``: one lean autograd Function where ``act`` is FReLU.

Where a lean FReLU follows a BatchNorm (every activation site of a ResNet block),
``lean_norm_frelu`` keeps the norm's input for backward instead of the FReLU's
input, so an FReLU site keeps no more activation-sized tensors than a ReLU site.
Everywhere else (another activation, another norm, no autograd, tracing or ONNX
export, the lean backward turned off) this is the plain ``act(norm(c) + identity)``.
"""
from typing import Optional

import torch
import torch.nn as nn

from .frelu import FReLU
from .lean_frelu import lean_norm_frelu, lean_norm_ok, supports_lean


def norm_act(norm: nn.Module, act: nn.Module, c: torch.Tensor,
             identity: Optional[torch.Tensor] = None,
             downsample: Optional[nn.Module] = None) -> torch.Tensor:
    """``act(norm(c) + downsample(identity))`` (without ``downsample``: ``+ identity``;
    without ``identity``: ``act(norm(c))``).

    Args:
        norm (nn.Module): the norm after a conv.
        act (nn.Module): the activation after it (and after the residual add).
        c (Tensor): the conv's output.
        identity (Tensor | None): the residual branch (its input, with ``downsample``),
            added after the norm.
        downsample (nn.Module | None): the residual branch's module, e.g. a ResNet
            block's downsample (conv, norm). Where its last module is a BatchNorm, the
            lean Function applies that norm itself and keeps its input instead of its
            output (see ``residual_parts``).
    """
    if torch.is_grad_enabled() and not torch.jit.is_tracing() and isinstance(act, FReLU) \
            and act.lean_backward and supports_lean(act) and lean_norm_ok(norm):
        act.check_input(c)
        identity, identity_norm = residual_parts(downsample, identity)
        return lean_norm_frelu(c, norm, act, identity, identity_norm)
    if downsample is not None:
        identity = downsample(identity)
    out = norm(c)
    if identity is not None:
        # in place into the norm's fresh output, as the host blocks do (`out += identity`)
        out = out.add_(identity) if out is not c else out + identity
    return act(out)


def residual_parts(downsample: Optional[nn.Module], x: Optional[torch.Tensor]):
    """``(r, rnorm)``: a residual branch ``downsample(x)`` run up to its last module
    where that is a BatchNorm the lean Function can apply (``lean_norm_ok``) and
    neither it nor the branch has hooks (forward or backward, which only a module call
    runs): ``r`` its input, ``rnorm`` the norm; else the whole branch's output and None."""
    if downsample is None:
        return x, None
    if isinstance(downsample, nn.Sequential) and len(downsample) > 1 \
            and lean_norm_ok(downsample[-1]) \
            and not any(_has_hooks(m) for m in (downsample, downsample[-1])):
        for m in list(downsample)[:-1]:
            x = m(x)
        return x, downsample[-1]
    return downsample(x), None


def _has_hooks(m: nn.Module) -> bool:
    return any(getattr(m, name, None) for name in (
        '_forward_hooks', '_forward_pre_hooks', '_backward_hooks', '_backward_pre_hooks'))
