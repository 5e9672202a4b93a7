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
             identity: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``act(norm(c) + identity)`` (``act(norm(c))`` without ``identity``).

    Args:
        norm (nn.Module): the norm after a conv.
        act (nn.Module): the activation after it (and after the residual add).
        c (Tensor): the conv's output.
        identity (Tensor | None): the residual branch, added after the norm.
    """
    if torch.is_grad_enabled() and not torch.jit.is_tracing() and isinstance(act, FReLU) \
            and act.lean_backward and supports_lean(act) and lean_norm_ok(norm):
        act.check_input(c)
        return lean_norm_frelu(c, norm, act, identity)
    out = norm(c)
    if identity is not None:
        # in place into the norm's fresh output, as the host blocks do (`out += identity`)
        out = out.add_(identity) if out is not c else out + identity
    return act(out)
