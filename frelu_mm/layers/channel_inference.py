"""Give FReLU its width inside mmcv's ``ConvModule``.

``ConvModule`` builds its activation from ``act_cfg`` alone, so an activation with
weights never learns how many channels it sees. Every OpenMMLab head and neck that
takes ``act_cfg`` (mmseg's PSPHead/FCNHead, mmdet's FPN, ``DepthwiseSeparableConvModule``)
builds its activations through ``ConvModule``, so filling in ``in_channels`` there
reaches them all at build time, before the runner builds the optimizer or DDP.
``ConvModule.init_weights`` is also extended to re-run the activation's own
``init_weights`` after a parent's ``init_cfg`` reached it.
"""
import functools
import inspect

from mmcv.cnn import ConvModule

_PATCHED = '_frelu_mm_patched'


def needs_channels(act_cfg) -> bool:
    """Whether ``act_cfg`` builds an activation that needs ``in_channels``."""
    from .frelu import FReLU
    if not isinstance(act_cfg, dict):
        return False
    act_type = act_cfg.get('type')
    return (act_type == 'FReLU' or act_type is FReLU) and act_cfg.get('in_channels') is None


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
        if needs_channels(arguments['act_cfg']):
            width = activation_width(arguments['in_channels'], arguments['out_channels'],
                                     arguments['order'])
            arguments['act_cfg'] = dict(arguments['act_cfg'], in_channels=width)
        original_init(*bound.args, **bound.kwargs)

    @functools.wraps(original_init_weights)
    def init_weights(self):
        original_init_weights(self)
        if self.with_activation and hasattr(self.activate, 'init_weights'):
            self.activate.init_weights()

    ConvModule.__init__ = __init__
    ConvModule.init_weights = init_weights
    setattr(ConvModule, _PATCHED, True)
