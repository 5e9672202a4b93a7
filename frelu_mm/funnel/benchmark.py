"""What ``FunnelStatsHook`` costs a training step (``tools/benchmark_funnel_hook.py``).

One run, three kinds of training step (forward, backward, SGD step) on the same
FReLU backbone and batch, interleaved round-robin so that a noisy machine affects
them alike: *plain* (no hook), *hooked, off* (the hook is called on an iteration it
does not log) and *hooked, logging* (it collects and writes its scalars to a
LocalVisBackend). With a log every ``interval`` iterations the cost is

    ratio = ((interval - 1) * off + logging) / (interval * plain)

from the medians. The backbone alone carries every FReLU: a whole detector's step
is longer for the same hook work, so its ratio is lower.
"""
import logging
import statistics
import tempfile
import time
from types import SimpleNamespace

import torch


def hook_cost(interval: int = 50, rounds: int = 10, batch: int = 4, size: int = 128,
              base_channels: int = 8, warmup: int = 2, seed: int = 0) -> dict:
    """Median step times (s) of the three kinds and the cost ratio at ``interval``.

    Args:
        interval (int): the hook's interval.
        rounds (int): measured steps of each kind.
        batch (int): images per step.
        size (int): image side.
        base_channels (int): ResNet-50 width (8: the demo backbone).
        warmup (int): unmeasured rounds first.
        seed (int): weights and data.
    """
    from mmengine.visualization import Visualizer

    from ..models import ActResNet
    from .hook import FunnelStatsHook
    torch.manual_seed(seed)
    model = ActResNet(depth=50, base_channels=base_channels, deep_stem=True,
                      stem_channels=2 * base_channels, act_cfg=dict(type='FReLU'))
    model.train()
    optim = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    x = torch.randn(batch, 3, size, size)
    hook = FunnelStatsHook(interval, log_text=False)
    with tempfile.TemporaryDirectory() as tmp:
        runner = SimpleNamespace(
            model=model, iter=0, logger=logging.getLogger('funnel_benchmark'),
            visualizer=Visualizer(name=f'funnel_benchmark_{time.time_ns()}', save_dir=tmp,
                                  vis_backends=[dict(type='LocalVisBackend')]))

        def step(kind: str) -> float:
            # an iteration the hook logs ((iter + 1) % interval == 0) or one it skips
            runner.iter = interval - 1 if kind == 'logging' else interval
            start = time.perf_counter()
            if kind != 'plain':
                hook.before_train_iter(runner, 0)
            loss = sum(out.float().mean() for out in model(x))
            optim.zero_grad()
            loss.backward()
            optim.step()
            if kind != 'plain':
                hook.after_train_iter(runner, 0)
            return time.perf_counter() - start

        kinds = ('plain', 'off', 'logging')
        times = {k: [] for k in kinds}
        for r in range(warmup + rounds):
            order = kinds if r % 2 == 0 else kinds[::-1]
            for k in order:
                t = step(k)
                if r >= warmup:
                    times[k].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = ((interval - 1) * med['off'] + med['logging']) / (interval * med['plain'])
    return dict(interval=interval, rounds=rounds, batch=batch, size=size,
                base_channels=base_channels, median_s=med, ratio=ratio,
                logging_step_ratio=med['logging'] / med['plain'],
                off_step_ratio=med['off'] / med['plain'])
