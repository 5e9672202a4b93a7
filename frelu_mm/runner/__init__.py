"""What tools/train.py and tools/test.py share: config loading, safe checkpoints, hooks."""
from .config import load_config
from .fuse_hook import FuseFReLUHook
from .safe_checkpoint import allow_runner_checkpoints

__all__ = ['load_config', 'FuseFReLUHook', 'allow_runner_checkpoints']
