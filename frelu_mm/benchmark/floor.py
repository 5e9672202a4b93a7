"""The physical floor of FReLU's cost: its multiply-adds beside the ReLU network's.

An FReLU adds one depthwise k x k conv per site (the max is an elementwise pass,
like the ReLU it replaces). A compute-bound runtime cannot run the FReLU network
faster than its multiply-adds allow, so ``macs(FReLU net) / macs(ReLU net)`` is the
floor of the inference and training-step ratios (training runs each conv forward
and twice backward, the same factor for both networks).
"""
import torch
import torch.nn as nn


def conv_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of every ``Conv2d`` and ``Linear`` in ``model(x)``.

    Args:
        model (nn.Module): the network, run once under no_grad.
        x (torch.Tensor): its input.
    """
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            total[0] += out.numel() * m.weight[0].numel()
        else:
            total[0] += out.numel() * m.in_features
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total[0]


def mac_floor(depth: int = 50, size: int = 224) -> float:
    """``macs(FReLU backbone) / macs(ReLU backbone)`` of ``ActResNet`` (batch 1).

    Args:
        depth (int): ResNet depth.
        size (int): image side.
    """
    from .variants import build
    x = torch.zeros(1, 3, size, size)
    macs = {}
    for variant in ('relu', 'ours'):
        model = build(variant, depth, 'cpu')
        model.eval()
        macs[variant] = conv_macs(model, x)
    return macs['ours'] / macs['relu']
