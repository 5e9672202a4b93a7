"""MegEngine tensor layouts -> PyTorch layouts.

MegEngine stores a grouped conv weight as 5-D ``(groups, out/groups, in/groups, kh, kw)``
(PyTorch: 4-D ``(out, in/groups, kh, kw)``) and a conv bias or a BatchNorm
tensor (weight, bias, running mean/var) as ``(1, C, 1, 1)`` (PyTorch: ``(C,)``).
"""
import numpy as np


def conv_weight_to_torch(weight: np.ndarray, name: str = 'conv weight') -> np.ndarray:
    """Return a conv weight in PyTorch's 4-D ``(out, in/groups, kh, kw)`` layout.

    Args:
        weight (np.ndarray): a 4-D (ungrouped) or 5-D (grouped, MegEngine) weight.
        name (str): the key, for error messages.
    """
    if weight.ndim == 4:
        return weight
    if weight.ndim == 5:
        groups, out_per_group, in_per_group, kh, kw = weight.shape
        return weight.reshape(groups * out_per_group, in_per_group, kh, kw)
    raise ValueError(f'{name}: a conv weight must be 4-D, or 5-D (grouped, MegEngine), '
                     f'got shape {weight.shape}')


def channel_vector_to_torch(tensor: np.ndarray, name: str = 'tensor') -> np.ndarray:
    """Return a per-channel tensor (conv bias, BN weight/bias/statistics) as ``(C,)``.

    Args:
        tensor (np.ndarray): ``(1, C, 1, 1)`` (MegEngine) or already ``(C,)``.
        name (str): the key, for error messages.
    """
    if tensor.ndim == 1:
        return tensor
    if tensor.ndim == 4 and tensor.shape[0] == 1 and tensor.shape[2:] == (1, 1):
        return tensor.reshape(tensor.shape[1])
    raise ValueError(f'{name}: expected a per-channel tensor of shape (1, C, 1, 1) or (C,), '
                     f'got {tensor.shape}')
