"""Write a training run's progress to a small JSON file, for a live display elsewhere."""
import json
import os
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ProgressFileHook(Hook):
    """Every ``interval`` iterations, write ``{"iter", "max_iters", "loss", "time"}`` to
    ``path`` (atomically), so that a parent process (the demo) can draw a progress bar
    while the run's log goes to its file.

    Args:
        path (str): the JSON file.
        interval (int): iterations between writes.
    """

    priority = 'LOW'

    def __init__(self, path: str, interval: int = 5):
        self.path = path
        self.interval = interval

    def _write(self, runner, loss=None) -> None:
        state = dict(iter=runner.iter, max_iters=runner.max_iters, loss=loss, time=time.time())
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(state, f)
        os.replace(tmp, self.path)

    def before_train(self, runner) -> None:
        self._write(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == runner.max_iters or (runner.iter + 1) % self.interval == 0:
            loss = outputs.get('loss') if isinstance(outputs, dict) else None
            self._write(runner, None if loss is None else float(loss.detach()))
