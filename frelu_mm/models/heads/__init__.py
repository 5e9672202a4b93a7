"""Heads whose activations follow an ``act_cfg``."""
from .act_retina_head import ActRetinaHead

__all__ = ['ActRetinaHead']
