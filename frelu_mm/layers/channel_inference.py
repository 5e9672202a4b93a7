"""Give FReLU its width inside mmcv's ``ConvModule``.

``ConvModule`` builds its activation from ``act_cfg`` alone, so an activation with
weights never learns how many channels it sees. Every OpenMMLab head and neck that
takes ``act_cfg`` (mmseg's PSPHead/FCNHead, mmdet's FPN, ``DepthwiseSeparableConvModule``)
builds its activations through ``ConvModule``, so filling in ``in_channels`` there
reaches them all at build time, before the runner builds the optimizer or DDP.
Where it fills in the width it also gives FReLU's condition the surrounding norm type
(``norm_cfg`` of the ConvModule or backbone) unless ``act_cfg`` names a norm itself.
``ConvModule.init_weights`` is also extended to re-run the activation's own
``init_weights`` after a parent's ``init_cfg`` reached it.
"""
import functools
import inspect
from typing import Optional

from mmcv.cnn import ConvModule

from .condition_norm import host_condition_norm

_PATCHED = '_frelu_mm_patched'


def is_frelu(act_cfg) -> bool:
    """Whether ``act_cfg`` builds an FReLU."""
    from .frelu import FReLU
    return isinstance(act_cfg, dict) and act_cfg.get('type') in ('FReLU', FReLU)


def needs_channels(act_cfg) -> bool:
    """Whether ``act_cfg`` builds an activation that needs ``in_channels``."""
    return is_frelu(act_cfg) and act_cfg.get('in_channels') is None


def fill_in_frelu(act_cfg, width: int, host_norm_cfg: Optional[dict] = None):
    """``act_cfg`` with FReLU's width and, unless it names one, the host's norm type.

    Args:
        act_cfg (dict | None): any activation cfg; only an FReLU cfg is changed.
        width (int): channels of the tensor the activation sees.
        host_norm_cfg (dict | None): the ``norm_cfg`` around the activation (the
            ConvModule's or backbone's); see ``host_condition_norm``.

    Returns:
        The cfg to build (a new dict where something was filled in).
    """
    if not is_frelu(act_cfg):
        return act_cfg
    cfg = follow_host_norm(act_cfg, width, host_norm_cfg)
    if cfg.get('in_channels') is None:
        cfg['in_channels'] = width
    return cfg


def follow_host_norm(act_cfg: dict, width: int, host_norm_cfg: Optional[dict]) -> dict:
    """A copy of FReLU's ``act_cfg`` whose condition norm follows ``host_norm_cfg``
    unless ``act_cfg`` names one (``norm_cfg=None`` included)."""
    cfg = dict(act_cfg)
    if 'norm_cfg' not in cfg:
        norm_cfg = host_condition_norm(host_norm_cfg, cfg.get('in_channels') or width)
        if norm_cfg is not None:
            cfg['norm_cfg'] = norm_cfg
    return cfg


def activation_width(in_channels: int, out_channels: int, order) -> int:
    """The width the activation of a ConvModule sees for a given ``order``."""
    order = tuple(order)
    return out_channels if order.index('conv') < order.index('act') else in_channels


def patch_conv_module() -> None:
    """Patch ``ConvModule`` once (idempotent)."""
    if getattr(ConvModule, _PATCHED, False):
        return
    original_init = ConvModule.__init__
    original_init_weights = ConvModule.init_weights

    signature = inspect.signature(original_init)

    @functools.wraps(original_init)
    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        if is_frelu(arguments['act_cfg']):
            width = activation_width(arguments['in_channels'], arguments['out_channels'],
                                     arguments['order'])
            arguments['act_cfg'] = fill_in_frelu(arguments['act_cfg'], width,
                                                 arguments['norm_cfg'])
        original_init(*bound.args, **bound.kwargs)

    @functools.wraps(original_init_weights)
    def init_weights(self):
        original_init_weights(self)
        if self.with_activation and hasattr(self.activate, 'init_weights'):
            self.activate.init_weights()

    ConvModule.__init__ = __init__
    ConvModule.init_weights = init_weights
    setattr(ConvModule, _PATCHED, True)
