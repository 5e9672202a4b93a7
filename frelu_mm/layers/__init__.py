"""FReLU and what gives it its channel count."""
from .channel_inference import patch_conv_module
from .condition_norm import build_condition_norm
from .frelu import FReLU

patch_conv_module()

__all__ = ['FReLU', 'build_condition_norm', 'patch_conv_module']
