"""Distributed runs on CPU-only machines (gloo).

mmengine 0.10.7 assumes GPUs for the ``pytorch`` launcher: it calls
``torch.cuda.set_device`` and wraps the model in DDP with ``device_ids``, both of which
fail with a CPU build of torch. When there is no GPU, initialise the gloo process group
from torchrun's environment ourselves (mmengine then skips its own set-up) and wrap the
model with a DDP that takes no device ids.
"""
import torch
import torch.distributed as dist
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU modules: ignores ``device_ids``."""

    def __init__(self, module, device_ids=None, **kwargs):
        super().__init__(module=module, device_ids=None, **kwargs)


def prepare_cpu_distributed(cfg, launcher: str) -> None:
    """For ``launcher='pytorch'`` without CUDA: init gloo and pick the CPU DDP wrapper.

    Args:
        cfg (Config): the run's config (``model_wrapper_cfg`` is set if absent).
        launcher (str): the tool's ``--launcher``.
    """
    if launcher != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', init_method='env://')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='CPUDistributedDataParallel',
                                     find_unused_parameters=cfg.get('find_unused_parameters',
                                                                    False))
