"""Side-by-side timing (interleaved medians) and a process's peak memory."""
import resource
import statistics
import time
from typing import Callable, Dict


def interleaved_medians(runs: Dict[str, Callable[[], None]], repeats: int,
                        warmup: int) -> Dict[str, float]:
    """Median seconds of each callable, run round-robin ``repeats`` times; each round
    starts one variant later, so that none always runs first (the cyclic order stays:
    each variant follows the same other one; measured, the predecessor moved a
    forward's time no more than the noise: docs/performance.md).

    Args:
        runs (dict): name -> callable timed as one unit.
        repeats (int): timed rounds.
        warmup (int): untimed rounds first.
    """
    for _ in range(warmup):
        for run in runs.values():
            run()
    names = list(runs)
    times = {k: [] for k in runs}
    for i in range(repeats):
        for k in names[i % len(names):] + names[:i % len(names)]:
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
