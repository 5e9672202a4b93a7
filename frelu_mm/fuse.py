"""Fold each FReLU's condition norm into its depthwise conv, for inference.

In eval mode a BatchNorm is a per-channel affine map, so
``BN(conv(x)) = conv'(x)`` with ``w' = w * s`` and ``b' = (b - mean) * s + beta``,
``s = gamma / sqrt(running_var + eps)``. After folding, an FReLU costs one
depthwise conv (with bias) and one in-place max.

What is folded: a ``BatchNorm2d`` / ``SyncBatchNorm`` with running statistics,
in eval mode, after a conv (``condition='dwconv'`` and both convs of the
factorized conditions). The folded norm becomes ``nn.Identity`` and the conv
gains a bias, so the fused module's ``state_dict`` keys differ: fuse after
loading a checkpoint, and do not train or save a fused model as a checkpoint.

What is left untouched (documented, not an error): norms in train mode (their
output depends on the batch), GN / LN / IN (per-sample statistics, not an affine
map of the input), norms without running statistics, and the pooling
conditions (a norm after a pool has no conv to fold into; it is already a cheap
per-channel affine).

Memory format: on CPU, PyTorch runs a depthwise conv on a channels-last tensor
through oneDNN several times faster than on an NCHW tensor (NCHW takes a slow
native kernel), while ResNet's dense convs run at least as fast in channels-last;
so ``fuse_frelu`` converts the module to channels-last by default (its inputs
then propagate the format; an NCHW input is converted by the first conv).
"""
from typing import Optional

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from .layers.frelu import FReLU


def foldable(norm: nn.Module) -> bool:
    """Whether ``norm`` is a BatchNorm that is an affine map now (eval, running stats).

    Args:
        norm (nn.Module): the norm after a condition conv.
    """
    return (isinstance(norm, _BatchNorm) and not norm.training
            and norm.track_running_stats and norm.running_mean is not None)


@torch.no_grad()
def fold_norm_into_conv(conv: nn.Conv2d, norm: _BatchNorm) -> None:
    """Fold eval-mode BatchNorm ``norm`` into ``conv`` (in place).

    Args:
        conv (nn.Conv2d): the conv whose output ``norm`` normalises.
        norm (_BatchNorm): a norm for which ``foldable(norm)`` holds.
    """
    w = conv.weight
    scale = torch.rsqrt(norm.running_var.to(torch.float64) + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight.to(torch.float64)
    bias = torch.zeros(w.shape[0], dtype=torch.float64, device=w.device) \
        if conv.bias is None else conv.bias.to(torch.float64)
    bias = (bias - norm.running_mean.to(torch.float64)) * scale
    if norm.bias is not None:
        bias = bias + norm.bias.to(torch.float64)
    new_w = (w.to(torch.float64) * scale.view(-1, 1, 1, 1)).to(w.dtype)
    conv.weight.copy_(new_w)  # keeps the weight's memory format
    if conv.bias is None:
        conv.bias = nn.Parameter(bias.to(w.dtype), requires_grad=w.requires_grad)
    else:
        conv.bias.copy_(bias.to(conv.bias.dtype))


def fuse_one(m: FReLU) -> bool:
    """Fold the foldable norms of one FReLU; returns whether anything was folded.

    Args:
        m (FReLU): the module, changed in place.
    """
    folded = False
    for conv_name, norm_name in (('conv', 'norm'), ('conv2', 'norm2')):
        conv, norm = getattr(m, conv_name, None), getattr(m, norm_name, None)
        if isinstance(conv, nn.Conv2d) and norm is not None and foldable(norm):
            fold_norm_into_conv(conv, norm)
            setattr(m, norm_name, nn.Identity())
            folded = True
    return folded


def fuse_frelu(module: nn.Module,
               memory_format: Optional[torch.memory_format] = torch.channels_last) -> nn.Module:
    """Fuse every FReLU below ``module`` for inference, in place.

    Call it on a model in eval mode (``model.eval()`` first): a norm in train
    mode is left as it is. Outputs equal the unfused model's up to float
    rounding (about 1e-6 relative).

    Args:
        module (nn.Module): an FReLU, a backbone, a head or a whole detector /
            segmentor.
        memory_format (torch.memory_format | None): convert ``module`` to this
            format (default channels-last, the fastest for FReLU on CPU; see the
            module docstring); None leaves the format as it is.

    Returns:
        nn.Module: ``module`` itself.
    """
    for m in module.modules():
        if isinstance(m, FReLU):
            fuse_one(m)
    if memory_format is not None:
        module.to(memory_format=memory_format)
    return module
