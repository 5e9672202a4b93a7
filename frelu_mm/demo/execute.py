"""Run the demo's runs (train, then test) as subprocesses, a few at a time, with live progress.

Each run gets a config file of its own under ``<out>/configs/`` that inherits its demo
config and sets only the seed, the checkpoint it starts from and the progress file;
anyone can re-run it with ``tools/train.py``. Logs go to ``<out>/logs/``; the
terminal shows one progress bar per running run (iteration, ETA, loss).
"""
import functools
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from .plan import Run, pretrained_of

QUICK = {'train_cfg.max_iters': 4, 'default_hooks.checkpoint.interval': 4}


def _nest(flat: Dict) -> Dict:
    out: Dict = {}
    for key, value in flat.items():
        node = out
        *parents, last = key.split('.')
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out


def _has_key(cfg, dotted: str) -> bool:
    node = cfg
    for part in dotted.split('.'):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@functools.lru_cache(maxsize=None)
def _read_config(path: str) -> Dict:
    """A demo config as a dict, read once per demo (every seed's run shares it)."""
    from mmengine.config import Config
    return Config.fromfile(path).to_dict()


def run_config_text(run: Run, root: str, checkpoint_options: Dict, progress: str,
                    quick: bool) -> str:
    """The config file of one run: its demo config plus seed, start and progress file.
    It is tested once, by tools/test.py after training, so it has no validation."""
    base = osp.join(root, run.config)
    base_cfg = _read_config(base)
    flat = {'randomness.seed': run.seed, **run.options}
    for key, value in checkpoint_options.items():
        # replace what the base has there (e.g. init_cfg=None) instead of merging into it
        flat[key] = dict(_delete_=True, **value) if _has_key(base_cfg, key) else dict(value)
    if quick:
        flat.update(QUICK)
    lines = [f'# demo run {run.key}: {run.task}, arm {run.arm}, seed {run.seed}',
             f'_base_ = {base!r}']
    lines += [f'{k} = {v!r}' for k, v in _nest(flat).items()]
    lines += ['val_dataloader = None', 'val_cfg = None', 'val_evaluator = None']
    lines.append(f'custom_hooks = [dict(type={"ProgressFileHook"!r}, path={progress!r})]')
    return '\n'.join(lines) + '\n'


class Job:
    """One run going through train -> test."""

    def __init__(self, run: Run, out: str, root: str):
        self.run = run
        self.work_dir = osp.join(out, run.key)
        self.config = osp.join(out, 'configs', run.key + '.py')
        self.progress = osp.join(out, 'logs', run.key + '.progress.json')
        self.log = osp.join(out, 'logs', f'{run.key}.log')
        self.root = root
        self.proc: Optional[subprocess.Popen] = None
        self.pretrained: Optional[str] = None
        self.started = self.seconds = 0.0

    def start(self, checkpoints: Dict[str, str], quick: bool, env: Dict) -> None:
        """Write the run's config, then train and test it in one process (imports once)."""
        self.pretrained, options = pretrained_of(self.run, checkpoints)
        with open(self.config, 'w') as f:
            f.write(run_config_text(self.run, self.root, options, osp.abspath(self.progress),
                                    quick))
        self.started = time.time()
        commands = [['tools/train.py', self.config, '--work-dir', self.work_dir],
                    ['tools/test.py', self.config, '@last_checkpoint', '--work-dir',
                     self.work_dir]]
        log = open(self.log, 'w')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'frelu_mm.demo.worker', json.dumps(commands)],
            cwd=self.root, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

    @property
    def checkpoint(self) -> str:
        with open(osp.join(self.work_dir, 'last_checkpoint')) as f:
            return f.read().strip()

    @property
    def step(self) -> str:
        return 'test' if osp.exists(osp.join(self.work_dir, 'last_checkpoint')) else 'train'

    def progress_state(self) -> Dict:
        try:
            with open(self.progress) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def failure(self) -> str:
        with open(self.log) as f:
            tail = ''.join(f.readlines()[-30:])
        return f'{self.run.key}: {self.step} failed (log: {self.log})\n{tail}'


def child_env(jobs: int) -> Dict:
    """The environment of a run: the cores shared among the parallel runs."""
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONUNBUFFERED='1')
    return env


def execute(runs: Sequence[Run], out: str, root: str, jobs: int = 1,
            quick: bool = False, pretrained: Optional[Dict[str, str]] = None) -> Dict[str, Job]:
    """Train and test every run, at most ``jobs`` at once, each after the run it starts from.

    ``pretrained`` maps run keys of pretrainings that are not in ``runs`` (an earlier
    demo's) to their checkpoints.

    Returns:
        dict: run key -> its finished :class:`Job`.

    Raises:
        SystemExit: a run failed (the others are stopped; its log's tail is shown).
    """
    from .progress import ProgressView
    for sub in ('configs', 'logs'):
        os.makedirs(osp.join(out, sub), exist_ok=True)
    env = child_env(jobs)
    waiting = [Job(r, out, root) for r in runs]
    running: List[Job] = []
    done: Dict[str, Job] = {}
    checkpoints: Dict[str, str] = dict(pretrained or {})
    with ProgressView(len(waiting)) as view:
        while waiting or running:
            for job in [j for j in waiting if j.run.after is None or j.run.after in checkpoints]:
                if len(running) >= jobs:
                    break
                waiting.remove(job)
                job.start(checkpoints, quick, env)
                running.append(job)
                view.started(job)
            time.sleep(0.5)
            for job in list(running):
                code = job.proc.poll()
                if code is None:
                    view.update(job)
                    continue
                if code != 0:
                    for other in running:
                        if other.proc.poll() is None:
                            other.proc.terminate()
                    view.stop()
                    raise SystemExit(job.failure())
                job.seconds = time.time() - job.started
                checkpoints[job.run.key] = job.checkpoint
                running.remove(job)
                done[job.run.key] = job
                view.finished(job, _score(job))
    return done


def _score(job: Job) -> Optional[float]:
    from .summary import read_overall
    from .plan import METRICS
    return read_overall(job.work_dir).get(METRICS[job.run.task])
