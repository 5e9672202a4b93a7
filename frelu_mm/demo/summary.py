"""The demo's results over seeds: mean ± std per arm, ``summary.json`` and the tables.

The std is the sample standard deviation over seeds (ddof=1); with one seed it is 0.
"""
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence

from ..evaluation.atomic import atomic_write
from ..evaluation.breakdown_io import load_breakdown
from .plan import METRICS, group_by_task

TASK_NAMES = {'cls': 'classification (pretraining)', 'det': 'detection (RetinaNet)',
              'seg': 'segmentation (PSPNet)'}


def read_overall(work_dir: str) -> Dict[str, Optional[float]]:
    """The overall metrics of a run's ``breakdown.json``."""
    return load_breakdown(osp.join(work_dir, 'breakdown.json'))['overall']


def mean_std(values: Sequence[Optional[float]]) -> Dict[str, Optional[float]]:
    """Mean and sample std (ddof=1) of the values that are defined."""
    vals = [v for v in values if v is not None]
    if not vals:
        return dict(mean=None, std=None)
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1) if len(vals) > 1 else 0.0
    return dict(mean=mean, std=math.sqrt(var))


def summarize(done: Dict, seeds: Sequence[int]) -> dict:
    """Build ``summary.json``'s content from the finished jobs.

    Returns:
        dict: ``{"protocol": "pretrain-finetune", "seeds": [...], "runs": {task:
        {"metric": m, arm: {"per_seed": [...], "mean", "std", "pretrained": [...],
        "overall": {metric: {"per_seed", "mean", "std"}}, "per_class": {class:
        {metric: {"mean", "std"}}}}}}}``; ``pretrained`` lists, per seed, the
        checkpoint the fine-tune started from (null: from scratch).
    """
    out = dict(protocol='pretrain-finetune', seeds=list(seeds), runs={})
    for task, arms in group_by_task([j.run for j in done.values()]).items():
        entry = dict(metric=METRICS[task])
        for arm, runs in arms.items():
            jobs = [done[r.key] for r in sorted(runs, key=lambda r: r.seed)]
            bds = [load_breakdown(osp.join(j.work_dir, 'breakdown.json')) for j in jobs]
            overall = {m: dict(per_seed=[bd['overall'].get(m) for bd in bds],
                               **mean_std([bd['overall'].get(m) for bd in bds]))
                       for m in bds[0]['overall']}
            per_class = {c: {m: mean_std([bd['per_class'][c].get(m) for bd in bds])
                             for m in bds[0]['per_class'][c]}
                         for c in bds[0]['per_class']}
            main = overall[METRICS[task]]
            entry[arm] = dict(per_seed=main['per_seed'], mean=main['mean'], std=main['std'],
                              pretrained=[_relative(j.pretrained, j.root) for j in jobs],
                              act=jobs[0].run.act, seconds=[round(j.seconds, 1) for j in jobs],
                              overall=overall, per_class=per_class)
        out['runs'][task] = entry
    return out


def _relative(path: Optional[str], root: str) -> Optional[str]:
    return None if path is None else osp.relpath(path, root)


def pm(stat: Dict, digits: int = 1) -> str:
    if stat['mean'] is None:
        return '-'
    return f'{stat["mean"]:.{digits}f} ± {stat["std"]:.{digits}f}'


def arms_of(task_entry: Dict) -> List[str]:
    """The arms of one task's entry in ``summary.json``."""
    return [k for k in task_entry if k != 'metric']


def overall_table(task: str, entry: Dict, labels: Dict[str, str],
                  chance: Optional[float] = None) -> str:
    """Markdown: one row per arm, each overall metric as mean ± std, then each seed."""
    arms = arms_of(entry)
    metrics = list(entry[arms[0]]['overall'])
    rows = [f'| arm | {" | ".join(metrics)} | {entry["metric"]} per seed |',
            '|' + '---|' * (len(metrics) + 2)]
    for arm in arms:
        e = entry[arm]
        seeds = ', '.join('-' if v is None else f'{v:.1f}' for v in e['per_seed'])
        rows.append(f'| {labels.get(arm, arm)} | '
                    + ' | '.join(pm(e['overall'][m]) for m in metrics) + f' | {seeds} |')
    if chance is not None:
        rows.append(f'| chance | {chance:.1f} |' + ' |' * len(metrics))
    return f'**{TASK_NAMES[task]}**, mean ± std over seeds (%)\n\n' + '\n'.join(rows) + '\n'


def per_class_table(task: str, entry: Dict, labels: Dict[str, str]) -> str:
    """Markdown in the paper's per-class layout: one row per class, one column per arm
    (IoU for seg, AP for det, accuracy for cls), mean ± std over seeds."""
    metric = {'cls': 'Acc', 'det': 'mAP', 'seg': 'IoU'}[task]
    arms = arms_of(entry)
    head = f'| class | {" | ".join(labels.get(a, a) for a in arms)} |'
    rows = [head, '|' + '---|' * (len(arms) + 1),
            f'| **{entry["metric"]}** | ' + ' | '.join(pm(entry[a]['overall'][entry['metric']])
                                                     for a in arms) + ' |']
    for cls in entry[arms[0]]['per_class']:
        rows.append(f'| {cls} | ' + ' | '.join(pm(entry[a]['per_class'][cls][metric])
                                              for a in arms) + ' |')
    return f'**{TASK_NAMES[task]}**, per class {metric}, mean ± std over seeds (%)\n\n' \
        + '\n'.join(rows) + '\n'


def verdict(entry: Dict, a: str = 'frelu', b: str = 'relu') -> Optional[str]:
    """One plain sentence comparing arm ``a`` with arm ``b`` on the task's metric."""
    if a not in entry or b not in entry or entry[a]['mean'] is None or entry[b]['mean'] is None:
        return None
    diff = entry[a]['mean'] - entry[b]['mean']
    noise = math.hypot(entry[a]['std'], entry[b]['std'])
    if abs(diff) <= noise:
        word = 'within the seeds\' noise of'
    else:
        word = 'above' if diff > 0 else 'BELOW'
    return (f'{entry["metric"]}: {a} {entry[a]["mean"]:.1f} vs {b} {entry[b]["mean"]:.1f} '
            f'(difference {diff:+.1f}, noise sqrt(std_a² + std_b²) = {noise:.1f}): {a} is '
            f'{word} {b}.')


def save_summary(summary: dict, path: str) -> None:
    atomic_write(path, json.dumps(summary, indent=2))
