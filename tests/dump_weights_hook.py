"""A test-only hook: each rank saves its final weights (imported by tests' configs)."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpWeightsHook(Hook):
    """Save ``rank{r}.pth`` (the model's state dict) into ``out_dir`` after training."""

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save(model.state_dict(), osp.join(self.out_dir, f'rank{get_rank()}.pth'))
