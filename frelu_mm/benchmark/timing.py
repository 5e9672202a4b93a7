"""Side-by-side timing (interleaved medians) and a process's peak memory."""
import random
import resource
import statistics
import time
from typing import Callable, Dict, Optional


def interleaved_medians(runs: Dict[str, Callable[[], None]], repeats: int,
                        warmup: int, seed: Optional[int] = None) -> Dict[str, float]:
    """Median seconds of each callable, all run once a round, ``repeats`` rounds, each
    round in a new random order, so that no variant always runs first or always after
    the same other one (a rotation kept the cyclic order: ours always followed the
    naive model; docs/performance.md). The orders differ from process to process unless
    ``seed`` is given, so that an uneven draw of predecessors is noise across processes,
    not the same bias in each.

    Args:
        runs (dict): name -> callable timed as one unit.
        repeats (int): timed rounds.
        warmup (int): untimed rounds first.
        seed (int, optional): seed of the rounds' orders.
    """
    for _ in range(warmup):
        for run in runs.values():
            run()
    rng = random.Random(seed)
    times = {k: [] for k in runs}
    for _ in range(repeats):
        for k in rng.sample(list(runs), len(runs)):
            t0 = time.perf_counter()
            runs[k]()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def rss_peak() -> int:
    """This process's peak RSS in bytes (VmHWM; ru_maxrss would carry the parent's peak
    across exec on Linux)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
