"""Build, save and print the ReLU / Swish / FReLU comparison."""
import os
from typing import Dict, List, Optional

from ..evaluation.atomic import atomic_write
from .charts import chart
from .runs import load_runs
from .tables import Table, cls_table, det_table, seg_table, table_to_csv, table_to_markdown


def build_tables(dirs: Dict[str, List[str]], paper: bool = False, paper_backbone: str = 'ResNet-50',
                 compute_complexity: bool = True) -> Dict[str, Table]:
    """Read the runs and build one table per task found.

    Args:
        dirs (Dict[str, List[str]]): activation (``ReLU``/``Swish``/``FReLU``) ->
            work dirs or breakdown.json files (det, seg and cls may be mixed).
        paper (bool): add the paper's numbers.
        paper_backbone (str): the paper's RetinaNet and ImageNet backbone to
            show (see ``paper_backbones``).
        compute_complexity (bool): count params/FLOPs from a run's dumped config
            when it has no complexity.json.

    Returns:
        Dict[str, Table]: ``'det'``, ``'seg'`` and/or ``'cls'`` -> table.
    """
    runs = load_runs(dirs, compute_complexity)
    tables = {}
    if 'det' in runs:
        tables['det'] = det_table(runs['det'], paper, paper_backbone)
    if 'seg' in runs:
        tables['seg'] = seg_table(runs['seg'], paper)
    if 'cls' in runs:
        tables['cls'] = cls_table(runs['cls'], paper, paper_backbone)
    return tables


def save_comparison(tables: Dict[str, Table], out_dir: Optional[str], digits: int = 1,
                    charts: bool = True) -> str:
    """Write ``<task>_table.md/.csv``, ``<task>_chart.png`` and ``comparison.md``
    (all tables) into ``out_dir``; return the Markdown of all tables.

    Args:
        tables (Dict[str, Table]): from :func:`build_tables`.
        out_dir (str | None): destination; None writes nothing.
        digits (int): decimals of percentages in Markdown.
        charts (bool): draw the PNG charts.
    """
    parts = []
    for task, table in tables.items():
        md = table_to_markdown(table, digits)
        parts.append(md)
        if out_dir is not None:
            atomic_write(os.path.join(out_dir, f'{task}_table.md'), md)
            atomic_write(os.path.join(out_dir, f'{task}_table.csv'), table_to_csv(table))
            if charts:
                chart(table, task, os.path.join(out_dir, f'{task}_chart.png'))
    text = '\n'.join(parts)
    if out_dir is not None:
        atomic_write(os.path.join(out_dir, 'comparison.md'), '# ReLU vs Swish vs FReLU\n\n' + text)
    return text
