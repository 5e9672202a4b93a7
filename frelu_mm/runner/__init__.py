"""What tools/train.py and tools/test.py share: config loading, checks, safe checkpoints."""
from .checks import (check_checkpoint_fits, check_data, check_fresh_work_dir,
                     check_pretrained, read_checkpoint)
from .config import load_config
from .cpu_distributed import CPUDistributedDataParallel, prepare_cpu_distributed
from .fuse_hook import FuseFReLUHook
from .progress_hook import ProgressFileHook
from .safe_checkpoint import allow_runner_checkpoints
from .seg_label_check import CheckSegLabels, insert_label_check

__all__ = ['check_checkpoint_fits', 'check_data', 'check_fresh_work_dir', 'check_pretrained',
           'read_checkpoint',
           'load_config', 'CPUDistributedDataParallel', 'prepare_cpu_distributed', 'FuseFReLUHook', 'ProgressFileHook', 'allow_runner_checkpoints', 'CheckSegLabels',
           'insert_label_check']
