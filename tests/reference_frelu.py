"""FReLU written from the paper's formula with plain tensor ops, for the tests.

It reuses the module's parameters but none of its code: convolution, pooling and
every norm are spelled out here.
"""
import torch
import torch.nn.functional as F


def reference_norm(t, norm_cfg, weight, bias):
    """Training-mode norm from its definition (biased variance, eps 1e-5)."""
    if norm_cfg is None:
        return t
    kind = norm_cfg['type']
    n, c, h, w = t.shape
    if kind in ('BN', 'SyncBN'):
        dims, shape = (0, 2, 3), t
    elif kind == 'IN':
        dims, shape = (2, 3), t
    elif kind in ('GN', 'LN'):
        groups = 1 if kind == 'LN' else norm_cfg['num_groups']
        shape = t.reshape(n, groups, c // groups, h, w)
        dims = (2, 3, 4)
    mean = shape.mean(dim=dims, keepdim=True)
    var = shape.var(dim=dims, unbiased=False, keepdim=True)
    normed = ((shape - mean) / torch.sqrt(var + 1e-5)).reshape(n, c, h, w)
    return normed * weight.view(1, c, 1, 1) + bias.view(1, c, 1, 1)


def tie_splitting_max(a, b):
    """max(a, b) as (a + b + |a - b|) / 2: ties split the gradient in half, as torch does."""
    return (a + b + (a - b).abs()) / 2


def reference_frelu(x, m):
    """``combine(x or 0, T(x))`` for an FReLU ``m`` in training mode."""
    c, k, p = m.in_channels, m.kernel_size, m.kernel_size // 2

    def normed(t, norm):
        if m.norm_cfg is None:
            return t
        return reference_norm(t, m.norm_cfg, norm.weight, norm.bias)

    if m.condition == 'maxpool':
        padded = F.pad(x, (p, p, p, p), value=float('-inf'))
        t = padded.unfold(2, k, 1).unfold(3, k, 1).amax(dim=(-1, -2))
        t = normed(t, m.norm)
    elif m.condition == 'avgpool':
        padded = F.pad(x, (p, p, p, p))
        count = F.pad(torch.ones_like(x), (p, p, p, p))
        s = padded.unfold(2, k, 1).unfold(3, k, 1).sum(dim=(-1, -2))
        n = count.unfold(2, k, 1).unfold(3, k, 1).sum(dim=(-1, -2))
        t = normed(s / n, m.norm)
    else:
        def dw(conv, pad):
            return F.conv2d(x, conv.weight, conv.bias, padding=pad, groups=c)
        if m.condition == 'dwconv':
            t = normed(dw(m.conv, (p, p)), m.norm)
        else:
            t1 = normed(dw(m.conv, (0, p)), m.norm)
            t2 = normed(dw(m.conv2, (p, 0)), m.norm2)
            t = t1 + t2 if m.condition == 'factorized_sum' else tie_splitting_max(t1, t2)
    base = x if m.with_identity else torch.zeros_like(t)
    return tie_splitting_max(base, t) if m.combine == 'max' else base + t
