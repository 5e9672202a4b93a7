"""What tools/train.py and tools/test.py share: config loading, checks, safe checkpoints."""
from .checks import (check_amp_device, check_checkpoint_fits, check_data, check_fresh_work_dir,
                     check_pretrained, read_checkpoint, repair_last_checkpoint)
from .config import load_config
from .cpu_distributed import CPUDistributedDataParallel, prepare_cpu_distributed
from .fuse_hook import FuseFReLUHook
from .progress_hook import ProgressFileHook
from .safe_checkpoint import (UnsafeCheckpointError, allow_runner_checkpoints,
                              install_safe_local_loader, load_checkpoint_file)
from .seg_label_check import CheckSegLabels, insert_label_check

__all__ = ['check_amp_device', 'check_checkpoint_fits', 'check_data', 'check_fresh_work_dir', 'check_pretrained',
           'read_checkpoint', 'repair_last_checkpoint', 'load_config', 'CPUDistributedDataParallel',
           'prepare_cpu_distributed', 'FuseFReLUHook', 'ProgressFileHook', 'CheckSegLabels',
           'insert_label_check', 'allow_runner_checkpoints', 'UnsafeCheckpointError',
           'install_safe_local_loader', 'load_checkpoint_file']

# mmengine's local checkpoint loader (Runner, Pretrained init, the inference APIs) loads
# weights-only on every torch version, and accepts tools/train.py checkpoints
install_safe_local_loader()
