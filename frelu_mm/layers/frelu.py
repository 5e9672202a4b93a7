"""FReLU, the funnel activation: ``y = max(x, T(x))``.

Ma, Zhang, Sun. "Funnel Activation for Visual Recognition", ECCV 2020,
https://arxiv.org/abs/2007.11824. ``T(x)`` is a per-channel spatial condition,
by default ``Norm(DepthwiseConv_kxk(x))``. The options below cover every row of the
paper's ablation tables (see the README for the option of each row).
"""
import math
from typing import Optional

import torch
import torch.nn as nn
from mmengine.registry import MODELS

from . import fused_kernel as kernel
from .condition_norm import build_condition_norm
from .lean_frelu import lean_frelu, supports_lean

CONDITIONS = ('dwconv', 'maxpool', 'avgpool', 'factorized_sum', 'factorized_max')
COMBINES = ('max', 'sum')

CHANNELS_HINT = (
    'FReLU needs the width of the tensor it activates. Pass it in the cfg, '
    "e.g. act_cfg=dict(type='FReLU', in_channels=256), or use FReLU where frelu_mm "
    'fills it in: mmcv ConvModule (and the heads/necks built from it), the '
    "frelu_mm backbones, or mmdet's ResNet plugins.")


@MODELS.register_module()
class FReLU(nn.Module):
    """Funnel activation ``y = combine(x, T(x))``.

    Args:
        in_channels (int): channels of the input. Required: FReLU has weights.
        kernel_size (int): odd window of the condition (1, 3, 5, 7, ...). Default 3.
        condition (str): the spatial condition ``T``: ``'dwconv'`` (depthwise k x k
            conv, the paper's ParamPool), ``'maxpool'``, ``'avgpool'``,
            ``'factorized_sum'`` (1 x k and k x 1 depthwise convs, each normed,
            summed, as the official ShuffleNetV2 light variant) or
            ``'factorized_max'`` (the same, maxed).
        combine (str): ``'max'`` (FReLU) or ``'sum'`` (ablation D).
        with_identity (bool): compare ``T(x)`` with ``x`` (FReLU). False compares it
            with 0, i.e. ``max(T(x), 0)``, ablation E.
        norm_cfg (dict | None): the condition's norm, default ``dict(type='BN')``.
        bias (bool): bias in the condition convs. False by default (redundant before
            a norm); True reproduces the official layer.
        relu_init (bool): start with ``T(x) == 0`` exactly (norm weight 0, or conv
            weights 0 without a norm), so ``y == relu(x)`` until training moves it.
        inplace (bool): as ``ReLU(inplace=True)``: may overwrite the input. Only the
            fused inference kernel does (no autograd; see ``fused_kernel``); the
            other paths leave the input as it is.
    """

    _abbr_ = 'frelu'  # name prefix when built as an mmdet ResNet plugin
    # Training with autograd on: use the recomputing backward of ``lean_frelu`` where
    # it applies (same gradients, less memory, faster). Set False on an instance (or
    # the class) to get the plain autograd graph.
    lean_backward = True
    # Inference (no grad) of a fused dwconv FReLU on a float32 channels-last CPU tensor:
    # use the one-pass C++ kernel of ``fused_kernel`` (built on first use; the eager
    # path if it cannot be built). Set False on an instance or the class to turn it off.
    fused_kernel = True

    def __init__(self,
                 in_channels: Optional[int] = None,
                 kernel_size: int = 3,
                 condition: str = 'dwconv',
                 combine: str = 'max',
                 with_identity: bool = True,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 bias: bool = False,
                 relu_init: bool = False,
                 inplace: bool = False):
        super().__init__()
        if in_channels is None:
            raise ValueError(f'FReLU was built without in_channels. {CHANNELS_HINT}')
        if not isinstance(in_channels, int) or in_channels <= 0:
            raise ValueError(f'FReLU in_channels must be a positive int, got {in_channels!r}')
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f'FReLU kernel_size must be a positive odd int so the window is centred '
                f'on each pixel (1, 3, 5, 7), got {kernel_size!r}')
        if condition not in CONDITIONS:
            raise ValueError(f'FReLU condition must be one of {CONDITIONS}, got {condition!r}')
        if combine not in COMBINES:
            raise ValueError(f'FReLU combine must be one of {COMBINES}, got {combine!r}')
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        self.condition = condition
        self.combine = combine
        self.with_identity = with_identity
        self.relu_init = relu_init
        self.inplace = inplace
        self.norm_cfg = None if norm_cfg is None else dict(norm_cfg)

        c, k, pad = in_channels, kernel_size, kernel_size // 2
        if condition == 'dwconv':
            self.conv = nn.Conv2d(c, c, k, 1, pad, groups=c, bias=bias)
        elif condition == 'maxpool':
            self.pool = nn.MaxPool2d(k, 1, pad)
        elif condition == 'avgpool':
            self.pool = nn.AvgPool2d(k, 1, pad, count_include_pad=False)
        else:
            self.conv = nn.Conv2d(c, c, (1, k), 1, (0, pad), groups=c, bias=bias)
            self.conv2 = nn.Conv2d(c, c, (k, 1), 1, (pad, 0), groups=c, bias=bias)
            self.norm2 = build_condition_norm(norm_cfg, c)
        self.norm = build_condition_norm(norm_cfg, c)
        if relu_init and not self._can_zero_condition():
            raise ValueError(
                f'FReLU relu_init=True needs weights that can make T(x) zero: an affine '
                f'norm or a conv condition; condition={condition!r} with '
                f'norm_cfg={norm_cfg!r} has neither')
        self.init_weights()

    def _convs(self):
        return [m for m in (getattr(self, 'conv', None), getattr(self, 'conv2', None)) if m is not None]

    def _norms(self):
        norms = [self.norm] + ([self.norm2] if hasattr(self, 'norm2') else [])
        return [n for n in norms if getattr(n, 'weight', None) is not None]

    def _can_zero_condition(self) -> bool:
        return bool(self._norms()) or (bool(self._convs()) and self.norm_cfg is None)

    def init_weights(self) -> None:
        """(Re)set the documented init: MSRA normal (fan_out) convs, norm weight 1 and
        bias 0; with ``relu_init`` the condition is made exactly zero instead.

        mmengine calls ``init_weights`` on children after a parent's ``init_cfg`` ran,
        so this undoes a host's Kaiming/Normal init that reached the condition conv.
        """
        for conv in self._convs():
            # fan_out of a depthwise conv is its window: each input feeds kh*kw outputs.
            fan_out = conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3]
            with torch.no_grad():
                conv.weight.normal_(0, math.sqrt(2.0 / fan_out))
                if conv.bias is not None:
                    conv.bias.zero_()
        for norm in self._norms():
            nn.init.ones_(norm.weight)
            nn.init.zeros_(norm.bias)
        if self.relu_init:
            targets = self._norms() if self._norms() else self._convs()
            with torch.no_grad():
                for m in targets:
                    m.weight.zero_()
                    if m.bias is not None:
                        m.bias.zero_()

    def funnel_condition(self, x: torch.Tensor) -> torch.Tensor:
        """``T(x)``, the spatial condition."""
        if self.condition in ('maxpool', 'avgpool'):
            return self.norm(self.pool(x))
        t = self.norm(self.conv(x))
        if self.condition == 'dwconv':
            return t
        t2 = self.norm2(self.conv2(x))
        return t + t2 if self.condition == 'factorized_sum' else torch.maximum(t, t2)

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'FReLU(in_channels={self.in_channels}) expects an (N, {self.in_channels}, '
                f'H, W) input, got shape {tuple(x.shape)}. Build it with the width of the '
                f'tensor it activates.')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        grad = torch.is_grad_enabled()
        if grad and self.lean_backward and supports_lean(self):
            return lean_frelu(x, self)
        if not grad and self.fused_kernel:
            y = kernel.fused_frelu(self, x)  # None where the kernel does not apply
            if y is not None:
                return y
        t = self.funnel_condition(x)
        if not grad and self.combine == 'max' and t is not x and t.shape == x.shape \
                and t.dtype == x.dtype:
            # no autograd: write the max into the condition's fresh buffer
            return torch.maximum(x, t, out=t) if self.with_identity else t.relu_()
        base = x if self.with_identity else torch.zeros_like(t)
        return torch.maximum(base, t) if self.combine == 'max' else base + t

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, kernel_size={self.kernel_size}, '
                f'condition={self.condition!r}, combine={self.combine!r}, '
                f'with_identity={self.with_identity}')
