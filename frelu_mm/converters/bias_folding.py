"""Fold a conv bias into the BatchNorm that follows it.

In eval mode ``BN(conv(x) + b)`` is
``gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta``, which is
``BN'(conv(x))`` with ``mean' = mean - b`` and every other BN tensor unchanged.
The fold is exact (no division, no change to ``var`` or ``eps``), so a bias-free
conv followed by ``BN'`` computes what the biased conv and ``BN`` computed.
"""
import numpy as np


def fold_bias_into_running_mean(bias: np.ndarray, running_mean: np.ndarray,
                                name: str = 'conv') -> np.ndarray:
    """Return ``running_mean - bias``: the BN mean that absorbs the conv's bias.

    Args:
        bias (np.ndarray): the conv bias, shape ``(C,)``.
        running_mean (np.ndarray): the following BN's running mean, shape ``(C,)``.
        name (str): the conv's key prefix, for error messages.
    """
    if bias.shape != running_mean.shape:
        raise ValueError(f'{name}: conv bias {bias.shape} does not match the running mean '
                         f'{running_mean.shape} of the BN that follows it')
    # float64 subtraction then one rounding: the result is the nearest float32 to mean - b.
    folded = running_mean.astype(np.float64) - bias.astype(np.float64)
    return folded.astype(running_mean.dtype)
