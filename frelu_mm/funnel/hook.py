"""Log the funnel share per stage during training, through mmengine's visualizer."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .stats import KINDS, FunnelCollector


@HOOKS.register_module()
class FunnelStatsHook(Hook):
    """Every ``interval`` training iterations, log the funnel share (and margin) of
    each stage with ``runner.visualizer.add_scalars``, so they reach every backend the
    config names (LocalVisBackend's ``scalars.json``, TensorBoard, ...).

    Only those iterations collect: the hooks are attached before the iteration's
    forward and removed after it (the FReLUs take their eager path for that one step,
    same values and gradients); the other iterations run exactly as without this hook.
    Scalars: ``funnel_share/<stage>`` and ``funnel_margin/<stage>`` at
    ``step = iter + 1``, as LoggerHook's; for a ReLU model, the share of elements
    clipped to 0 and their mean ``-x``. Counts are summed over distributed processes.

    In a config: ``custom_hooks = [dict(type='FunnelStatsHook', interval=50)]``.

    Args:
        interval (int): iterations between two logs.
        kind (str): ``'auto'`` (FReLU if the model has one, else ReLU), ``'frelu'``
            or ``'relu'``.
        log_text (bool): also write one line per log to the runner's logger.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 50, kind: str = 'auto', log_text: bool = True):
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'FunnelStatsHook interval must be a positive int, got {interval!r}')
        if kind not in KINDS:
            raise ValueError(f'FunnelStatsHook kind must be one of {KINDS}, got {kind!r}')
        self.interval = interval
        self.kind = kind
        self.log_text = log_text
        self._collector: Optional[FunnelCollector] = None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._collector = FunnelCollector(runner.model, self.kind).start()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        collector, self._collector = self._collector, None
        if collector is None:
            return
        collector.stop()
        stages = collector.stage_stats(reduce=True)
        scalars = {}
        for stage, s in stages.items():
            if s['share'] is not None:
                scalars[f'funnel_share/{stage}'] = s['share']
            if s['margin'] is not None:
                scalars[f'funnel_margin/{stage}'] = s['margin']
        if not scalars:
            return
        runner.visualizer.add_scalars(scalars, step=runner.iter + 1)
        if self.log_text:
            shares = ', '.join(f'{st} {s["share"]:.3f}' for st, s in stages.items()
                               if s['share'] is not None)
            runner.logger.info(f'funnel share ({collector.kind}) at iter {runner.iter + 1}: {shares}')

    def after_train(self, runner) -> None:
        if self._collector is not None:  # a failed iteration: leave nothing attached
            self._collector.stop()
            self._collector = None
