"""Find and read what a run's work dir holds: breakdown, params/FLOPs."""
import glob
import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ..evaluation.breakdown_io import load_breakdown

COMPLEXITY_TASKS = ('det', 'cls')  # tables with params/FLOPs columns


@dataclass
class RunResult:
    """One evaluated run.

    Args:
        activation (str): ``ReLU``, ``Swish`` or ``FReLU``.
        source (str): the breakdown.json it was read from.
        breakdown (dict): its breakdown.
        complexity (dict | None): ``{'params', 'flops', 'source', 'setting'}``.
    """
    activation: str
    source: str
    breakdown: dict
    complexity: Optional[dict] = field(default=None)

    @property
    def task(self) -> str:
        return self.breakdown['task']


def _newest(paths: Sequence[str]) -> Optional[str]:
    return max(paths, key=os.path.getmtime) if paths else None


def find_breakdown(path: str) -> str:
    """``path`` itself if a file, else ``<path>/breakdown.json``, else the newest
    ``<path>/*/breakdown.json`` (e.g. a timestamped sub-folder).

    Args:
        path (str): a work dir or a breakdown.json.

    Raises:
        FileNotFoundError: there is none.
    """
    if os.path.isfile(path):
        return path
    top = os.path.join(path, 'breakdown.json')
    if os.path.isfile(top):
        return top
    found = _newest(glob.glob(os.path.join(path, '*', 'breakdown.json')))
    if found is None:
        raise FileNotFoundError(
            f'no breakdown.json in {path}: run tools/test.py on that work dir first')
    return found


def find_dumped_config(work_dir: str) -> Optional[str]:
    """The config mmengine dumped at the top of a work dir (newest ``*.py``).

    Args:
        work_dir (str): the work dir.
    """
    if not os.path.isdir(work_dir):
        return None
    return _newest(glob.glob(os.path.join(work_dir, '*.py')))


def _from_report(report: dict, source: str) -> dict:
    part = 'classifier' if 'classifier' in report else 'backbone'
    r = report[part]
    return dict(params=r['params'], flops=r['flops'], source=source,
                setting=f'{part} {"x".join(map(str, r["input_shape"][2:]))}')


def run_complexity(work_dir: str, compute: bool = True) -> Optional[dict]:
    """Params/FLOPs of a run in the paper's column (backbone + 1000-way classifier
    at 224 x 224; for a classification run, its own classifier at 224 x 224;
    FReLU's max counted).

    Read from ``<work_dir>/complexity.json`` (``tools/get_flops.py --out``) if
    present; otherwise, with ``compute``, counted from the config mmengine dumped
    in the work dir (backbone / classifier only; a few seconds); otherwise None.

    Args:
        work_dir (str): the work dir (a file path uses its folder).
        compute (bool): count from the dumped config when there is no JSON.
    """
    folder = work_dir if os.path.isdir(work_dir) else os.path.dirname(work_dir)
    path = os.path.join(folder, 'complexity.json')
    if os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            return _from_report(json.load(f), path)
    config = find_dumped_config(folder)
    if not compute or config is None:
        return None
    from ..analysis import backbone_complexity
    return _from_report(backbone_complexity(config), config)


def load_runs(dirs: Dict[str, List[str]], compute_complexity: bool = True) -> Dict[str, Dict[str, RunResult]]:
    """Read the runs of each activation and group them by task.

    Args:
        dirs (Dict[str, List[str]]): activation -> work dirs / breakdown files
            (at most one per task).
        compute_complexity (bool): see :func:`run_complexity` (detection and
            classification; segmentation tables have no params/FLOPs).

    Returns:
        Dict[str, Dict[str, RunResult]]: task (``det``/``seg``/``cls``) -> activation -> run.
    """
    runs: Dict[str, Dict[str, RunResult]] = {}
    for act, paths in dirs.items():
        for path in paths or []:
            bd_path = find_breakdown(path)
            run = RunResult(act, bd_path, load_breakdown(bd_path))
            if act in runs.get(run.task, {}):
                raise ValueError(f'two {run.task} runs given for {act}: '
                                 f'{runs[run.task][act].source} and {path}')
            if run.task in COMPLEXITY_TASKS:
                folder = path if os.path.isdir(path) else os.path.dirname(path)
                run.complexity = run_complexity(folder, compute_complexity)
            runs.setdefault(run.task, {})[act] = run
    return runs
