"""The norm inside FReLU's funnel condition, built from an OpenMMLab ``norm_cfg``."""
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
