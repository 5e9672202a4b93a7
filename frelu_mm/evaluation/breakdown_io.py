"""The breakdown record: validate, format (Markdown, CSV, console) and save it.

A breakdown is ``{"task": "det" | "seg" | "cls", "overall": {metric: value},
"per_class": {class: {metric: value}}}`` with values in percent; a value that is
undefined (e.g. AP of a class without ground truth, IoU of a class absent from
both ground truth and prediction, accuracy of a class without images) is
``None`` (JSON ``null``).
"""
import csv
import io
import json
import math
import os
from typing import Dict, Mapping, Optional

from prettytable import PrettyTable, TableStyle

from .atomic import atomic_write

DET_METRICS = ('mAP', 'AP50', 'AP75', 'APs', 'APm', 'APl')
SEG_OVERALL_METRICS = ('mIoU', 'mAcc', 'aAcc')
SEG_CLASS_METRICS = ('IoU', 'Acc')
CLS_OVERALL_METRICS = ('top1', 'top5', 'err1')
CLS_CLASS_METRICS = ('Acc', )
TASK_METRICS = {
    'det': (DET_METRICS, DET_METRICS),
    'seg': (SEG_OVERALL_METRICS, SEG_CLASS_METRICS),
    'cls': (CLS_OVERALL_METRICS, CLS_CLASS_METRICS),
}
BREAKDOWN_FILES = ('breakdown.json', 'breakdown.csv', 'breakdown.md')


def _clean(value) -> Optional[float]:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def make_breakdown(task: str, overall: Mapping[str, float],
                   per_class: Mapping[str, Mapping[str, float]]) -> dict:
    """Build a validated breakdown dict (NaN becomes ``None``, numbers become floats).

    Args:
        task (str): ``'det'``, ``'seg'`` or ``'cls'``.
        overall (Mapping[str, float]): overall metrics in percent.
        per_class (Mapping[str, Mapping[str, float]]): per-class metrics in
            percent, in dataset order.

    Returns:
        dict: the breakdown, keys ``task``, ``overall``, ``per_class``.
    """
    bd = {
        'task': task,
        'overall': {k: _clean(v) for k, v in overall.items()},
        'per_class': {str(c): {k: _clean(v) for k, v in m.items()}
                      for c, m in per_class.items()},
    }
    return validate_breakdown(bd)


def validate_breakdown(bd: Mapping) -> dict:
    """Check a breakdown's structure and metric names; return it as a plain dict.

    Args:
        bd (Mapping): a breakdown as made by :func:`make_breakdown` or loaded
            from ``breakdown.json``.

    Returns:
        dict: the same breakdown.

    Raises:
        ValueError: wrong keys, unknown task, missing metrics or non-numbers.
    """
    if not isinstance(bd, Mapping) or set(bd) != {'task', 'overall', 'per_class'}:
        raise ValueError('a breakdown has exactly the keys task, overall, per_class; '
                         f'got {sorted(bd) if isinstance(bd, Mapping) else type(bd)}')
    if bd['task'] not in TASK_METRICS:
        raise ValueError(f'breakdown task must be one of {sorted(TASK_METRICS)}, '
                         f"got {bd['task']!r}")
    overall_keys, class_keys = TASK_METRICS[bd['task']]
    missing = [k for k in overall_keys if k not in bd['overall']]
    if missing:
        raise ValueError(f"{bd['task']} breakdown lacks overall metrics {missing}")
    for name, metrics in bd['per_class'].items():
        missing = [k for k in class_keys if k not in metrics]
        if missing:
            raise ValueError(f'class {name!r} lacks metrics {missing}')
    for scope, metrics in [('overall', bd['overall'])] + list(bd['per_class'].items()):
        for k, v in metrics.items():
            if v is not None and not isinstance(v, (int, float)):
                raise ValueError(f'{scope}/{k} is not a number: {v!r}')
    return {'task': bd['task'], 'overall': dict(bd['overall']),
            'per_class': {c: dict(m) for c, m in bd['per_class'].items()}}


def format_value(value: Optional[float], digits: int = 2) -> str:
    """``None`` -> ``'-'``, else the number with ``digits`` decimals.

    Args:
        value (float | None): the number.
        digits (int): decimals.
    """
    return '-' if value is None else f'{value:.{digits}f}'


def _class_table(bd: Mapping, digits: int) -> PrettyTable:
    overall_keys, class_keys = TASK_METRICS[bd['task']]
    table = PrettyTable(['class', *class_keys])
    for name, metrics in bd['per_class'].items():
        table.add_row([name, *[format_value(metrics.get(k), digits) for k in class_keys]])
    table.align['class'] = 'l'
    return table


def _overall_table(bd: Mapping, digits: int) -> PrettyTable:
    table = PrettyTable(list(bd['overall']))
    table.add_row([format_value(v, digits) for v in bd['overall'].values()])
    return table


def breakdown_to_markdown(bd: Mapping, digits: int = 2, title: str = 'Breakdown') -> str:
    """Markdown: an overall table, then one row per class.

    Args:
        bd (Mapping): the breakdown.
        digits (int): decimals. Default 2.
        title (str): heading of the document.
    """
    bd = validate_breakdown(bd)
    overall, classes = _overall_table(bd, digits), _class_table(bd, digits)
    for t in (overall, classes):
        t.set_style(TableStyle.MARKDOWN)
    parts = [f'# {title} ({bd["task"]}, %)', '', '## Overall', '', overall.get_string(), '',
             '## Per class', '', classes.get_string(), '']
    return '\n'.join(parts)


def breakdown_to_csv(bd: Mapping) -> str:
    """Long-format CSV ``scope,class,metric,value`` (scope ``overall`` or ``class``;
    full precision; empty value when undefined).

    Args:
        bd (Mapping): the breakdown.
    """
    bd = validate_breakdown(bd)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(['scope', 'class', 'metric', 'value'])
    for k, v in bd['overall'].items():
        writer.writerow(['overall', '', k, '' if v is None else repr(v)])
    for name, metrics in bd['per_class'].items():
        for k, v in metrics.items():
            writer.writerow(['class', name, k, '' if v is None else repr(v)])
    return buf.getvalue()


def breakdown_to_text(bd: Mapping, digits: int = 2) -> str:
    """Console tables (prettytable): per class, then overall.

    Args:
        bd (Mapping): the breakdown.
        digits (int): decimals. Default 2.
    """
    bd = validate_breakdown(bd)
    return (f'per-class breakdown ({bd["task"]}, %):\n{_class_table(bd, digits).get_string()}\n'
            f'overall:\n{_overall_table(bd, digits).get_string()}')


def save_breakdown(bd: Mapping, out_dir: str, digits: int = 2,
                   print_table: bool = True, logger=None) -> Dict[str, str]:
    """Write ``breakdown.json``, ``breakdown.csv`` and ``breakdown.md`` atomically.

    The JSON is written last, so its presence means the CSV and Markdown of the
    same evaluation are complete too.

    Args:
        bd (Mapping): the breakdown.
        out_dir (str): destination folder (created if needed).
        digits (int): decimals in the Markdown and the printed table.
        print_table (bool): also print the table (through mmengine's
            ``print_log``: the current logger, or stdout).
        logger: a logger or logger name for ``print_log``; default the current
            MMLogger if any.

    Returns:
        Dict[str, str]: paths by kind (``json``, ``csv``, ``md``).
    """
    bd = validate_breakdown(bd)
    paths = {ext: os.path.join(out_dir, f'breakdown.{ext}') for ext in ('csv', 'md', 'json')}
    atomic_write(paths['csv'], breakdown_to_csv(bd))
    atomic_write(paths['md'], breakdown_to_markdown(bd, digits))
    atomic_write(paths['json'], json.dumps(bd, indent=2, allow_nan=False) + '\n')
    if print_table:
        from mmengine.logging import print_log
        print_log('\n' + breakdown_to_text(bd, digits) + f'\nbreakdown saved to {paths["json"]}',
                  logger=logger if logger is not None else 'current')
    return paths


def report_breakdown(bd: Mapping, out_dir: Optional[str] = None, digits: int = 2) -> Dict[str, str]:
    """Print a breakdown's table and, when ``out_dir`` is given, save its files.

    Args:
        bd (Mapping): the breakdown.
        out_dir (str, optional): folder for :func:`save_breakdown`; ``None``
            only prints.
        digits (int): decimals.

    Returns:
        Dict[str, str]: the saved paths (empty when nothing was saved).
    """
    if out_dir is not None:
        return save_breakdown(bd, out_dir, digits=digits)
    from mmengine.logging import print_log
    print_log('\n' + breakdown_to_text(bd, digits), logger='current')
    return {}


def load_breakdown(path: str) -> dict:
    """Read and validate a ``breakdown.json``.

    Args:
        path (str): the file, or a folder that holds ``breakdown.json``.
    """
    if os.path.isdir(path):
        path = os.path.join(path, 'breakdown.json')
    with open(path, encoding='utf-8') as f:
        return validate_breakdown(json.load(f))
