"""Build a host backbone and its twin, run them, and say whether the twin stands in."""
import logging
import time
from collections import Counter
from typing import Optional

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ..layers import FReLU
from .twins import host_of, twin_backbone

NORMS = (_BatchNorm, nn.GroupNorm, _InstanceNorm, nn.LayerNorm)
INPUT_SIZE = 64  # every stride-32 host still has 2x2 at the last stage (BN: 4 values)
DCN_INPUT_SIZE = 96  # mmcv's deformable conv refuses maps smaller than its 3x3 kernel


class Refused(Exception):
    """The twin does not stand in for the host; the message says why."""


def registry(scope: str):
    """The ``MODELS`` registry of a toolkit."""
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    elif scope == 'mmseg':
        from mmseg.registry import MODELS
    elif scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
    else:
        raise KeyError(f'unknown toolkit {scope!r}')
    return MODELS


def build_backbone(cfg: dict, scope: str) -> nn.Module:
    """Build a backbone dict as a ``scope`` config would (no ``init_weights``: nothing
    is downloaded)."""
    with DefaultScope.overwrite_default_scope(scope):
        return registry(scope).build(cfg)


def frelu_keys(model: nn.Module) -> set:
    """state_dict keys that belong to FReLU modules."""
    return {f'{name}.{key}' for name, m in model.named_modules() if isinstance(m, FReLU)
            for key in m.state_dict()}


def host_norm_type(model: nn.Module) -> Optional[type]:
    """The norm class most of the host's norms have (None without norms)."""
    found = Counter(type(m) for m in model.modules() if isinstance(m, NORMS))
    return found.most_common(1)[0][0] if found else None


def load_quietly(model: nn.Module, state_dict: dict) -> None:
    """Strict ``load_state_dict`` without mmcv's per-layer DCN "upgraded" log."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.load_state_dict(state_dict, strict=True)
    finally:
        logger.setLevel(level)


def check_keys(host: nn.Module, twin: nn.Module) -> None:
    """The host's checkpoint loads into the twin with only FReLU's keys missing."""
    host_sd, twin_sd = host.state_dict(), twin.state_dict()
    lacking = [k for k in host_sd if k not in twin_sd]
    reshaped = [k for k in host_sd if k in twin_sd and host_sd[k].shape != twin_sd[k].shape]
    foreign = set(twin_sd) - set(host_sd) - frelu_keys(twin)
    if lacking or reshaped or foreign:
        raise Refused(f'state_dict differs from the host: lacking {lacking[:3]}, '
                      f'reshaped {reshaped[:3]}, extra non-FReLU {sorted(foreign)[:3]}')


def check_condition_norms(host: nn.Module, twin: nn.Module, act_cfg: Optional[dict]) -> None:
    """Every FReLU condition norm has the host's norm type (unless act_cfg names one)."""
    if act_cfg is None or 'norm_cfg' in act_cfg:
        return
    expected = host_norm_type(host)
    for name, m in twin.named_modules():
        if isinstance(m, FReLU):
            for norm in (m.norm, getattr(m, 'norm2', None)):
                if norm is not None and expected is not None and type(norm) is not expected:
                    raise Refused(f'{name}: condition norm {type(norm).__name__}, '
                                  f'host norms {expected.__name__}')


def feature_shapes(outs) -> list:
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [tuple(o.shape) for o in outs]


def run_pair(host: nn.Module, twin: nn.Module, x: torch.Tensor, same_weights: bool) -> dict:
    """Eval-mode forwards of both, then a train-mode forward and backward of the twin, on
    ``x``; shapes must match the host's (and eval outputs too where the twin has the
    host's weights: compared first, before training mode moves its running statistics)."""
    host.eval(), twin.eval()
    with torch.no_grad():
        host_outs, outs = host(x.clone()), twin(x.clone())
    if feature_shapes(outs) != feature_shapes(host_outs):
        raise Refused(f'eval-mode feature shapes {feature_shapes(outs)} != host '
                      f'{feature_shapes(host_outs)}')
    if same_weights:
        for a, b in zip(outs, host_outs):
            if not torch.allclose(a, b, rtol=1e-5, atol=1e-5):
                raise Refused('eval-mode outputs differ from the host with its weights')
    twin.train()
    outs = twin(x.clone())
    if feature_shapes(outs) != feature_shapes(host_outs):
        raise Refused(f'train-mode feature shapes {feature_shapes(outs)} != host '
                      f'{feature_shapes(host_outs)}')
    loss = sum(o.float().mean() for o in (outs if isinstance(outs, (list, tuple)) else [outs]))
    if not torch.isfinite(loss):
        raise Refused('train-mode forward is not finite')
    if loss.requires_grad:
        loss.backward()
    return dict(shapes=feature_shapes(host_outs))


def check_backbone(backbone: dict, toolkit: str, act_cfg: Optional[dict]) -> dict:
    """Swap one host backbone dict for its twin and check that the twin stands in.

    Checks: both build; the host's state_dict loads into the twin with only FReLU's
    keys missing; FReLU's condition norms have the host's norm type; an eval-mode
    forward and a train-mode forward and backward run on a ``1 x C x 64 x 64`` input
    (96 x 96 with DCN) with the host's feature shapes (SyncBN is run as BN on one
    process). With a ReLU twin (``act_cfg`` None or ReLU) the host's weights
    load strictly and the eval outputs must equal the host's.

    Args:
        backbone (dict): the host backbone dict of a config.
        toolkit (str): the config's toolkit.
        act_cfg (dict | None): the twin's ``act_cfg``.

    Returns:
        dict: ``accepted`` (bool), ``reason`` (str or None), ``shapes``, ``frelus``
        (FReLU modules in the twin), ``seconds``.
    """
    start = time.perf_counter()
    scope = host_of(backbone, toolkit)[0]
    result = dict(accepted=False, reason=None, shapes=None, frelus=0)
    host = twin = None
    try:
        stage = 'host build'
        host = build_backbone(backbone, scope)
        stage = 'twin build'
        twin = build_backbone(twin_backbone(backbone, toolkit, act_cfg), scope)
        result['frelus'] = sum(isinstance(m, FReLU) for m in twin.modules())
        check_keys(host, twin)
        check_condition_norms(host, twin, act_cfg)
        same_weights = act_cfg is None or act_cfg.get('type') == 'ReLU'
        if same_weights:
            load_quietly(twin, host.state_dict())
        host, twin = revert_sync_batchnorm(host), revert_sync_batchnorm(twin)
        size = DCN_INPUT_SIZE if backbone.get('dcn') else INPUT_SIZE
        x = torch.randn(1, backbone.get('in_channels', 3), size, size,
                        generator=torch.Generator().manual_seed(0))
        stage = 'forward'
        result.update(run_pair(host, twin, x, same_weights), accepted=True)
    except Refused as e:
        result['reason'] = str(e)
    except Exception as e:  # any failure of a build or forward is a reason to report
        first_line = (str(e).strip().splitlines() or [''])[0][:300]
        result['reason'] = f'{stage}: {type(e).__name__}: {first_line}'
    finally:
        del host, twin
    result['seconds'] = round(time.perf_counter() - start, 2)
    return result
