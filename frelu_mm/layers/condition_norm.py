"""The norm inside FReLU's funnel condition, built from an OpenMMLab ``norm_cfg``."""
import warnings
from typing import Optional

import torch.nn as nn
from mmcv.cnn import build_norm_layer


def build_condition_norm(norm_cfg: Optional[dict], channels: int) -> nn.Module:
    """Build the norm that follows the condition's spatial op.

    Args:
        norm_cfg (dict | None): ``dict(type='BN' | 'SyncBN' | 'GN' | 'LN' | 'IN', ...)``
            or None for no norm. ``LN`` normalises each sample over (C, H, W) with a
            per-channel affine (``GroupNorm`` with one group), the usual layer norm of
            conv features; ``IN`` is affine unless the cfg says otherwise.
        channels (int): the width of the condition.

    Returns:
        nn.Module: the norm, or ``nn.Identity`` when ``norm_cfg`` is None.
    """
    if norm_cfg is None:
        return nn.Identity()
    cfg = dict(norm_cfg)
    cfg.pop('_scope_', None)  # added by mmengine configs; mmcv's norm builders reject it
    norm_type = cfg.get('type')
    if norm_type == 'LN':
        # mmcv's LN is nn.LayerNorm over the last dim only, which is wrong for NCHW.
        return nn.GroupNorm(1, channels, eps=cfg.get('eps', 1e-5))
    if norm_type == 'GN' and 'num_groups' not in cfg:
        raise ValueError(
            "FReLU norm_cfg=dict(type='GN') needs num_groups, "
            "e.g. dict(type='GN', num_groups=8) (it must divide the channel count)")
    if norm_type == 'IN':
        cfg.setdefault('affine', True)
    return build_norm_layer(cfg, channels)[1]


def divisor_at_most(channels: int, groups: int) -> int:
    """The largest divisor of ``channels`` that is at most ``groups``."""
    return next(g for g in range(min(groups, channels), 0, -1) if channels % g == 0)


def host_condition_norm(host_norm_cfg: Optional[dict], channels: int) -> Optional[dict]:
    """FReLU's ``norm_cfg`` when it follows the host's ``norm_cfg``.

    The condition takes the host's norm *type* (BN, SyncBN, GN with its
    ``num_groups``, ...) and nothing else: it stays trainable where the host freezes
    its own norms (caffe-style ``requires_grad=False``), since no pretrained weights
    exist for it, and keeps the type's default ``eps``/``momentum``. GN groups that do
    not divide ``channels`` fall back to the largest divisor below them (with a warning).

    Args:
        host_norm_cfg (dict | None): the surrounding module's ``norm_cfg``; None (no
            norm there) keeps FReLU's default BN.
        channels (int): the width of the condition.

    Returns:
        dict | None: the ``norm_cfg`` to give FReLU, None to keep its default.
    """
    if not isinstance(host_norm_cfg, dict) or 'type' not in host_norm_cfg:
        return None
    cfg = dict(type=host_norm_cfg['type'], requires_grad=True)
    if cfg['type'] == 'GN':
        groups = host_norm_cfg.get('num_groups')
        if groups is None:
            return None  # the host's GN would not build either; let FReLU's default stand
        cfg['num_groups'] = divisor_at_most(channels, groups)
        if cfg['num_groups'] != groups:
            warnings.warn(f'FReLU condition norm: GN num_groups={groups} does not divide '
                          f'{channels} channels; using num_groups={cfg["num_groups"]}')
    return cfg
