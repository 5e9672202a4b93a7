"""PNG charts of the comparison tables (matplotlib, Agg backend)."""
import io
from typing import Optional

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..evaluation.atomic import atomic_write  # noqa: E402
from ..evaluation.breakdown_io import DET_METRICS  # noqa: E402
from .tables import DELTA, Table  # noqa: E402

COLORS = {'ReLU': '#4c72b0', 'Swish': '#dd8452', 'FReLU': '#55a868'}


def _save(fig, path: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110, bbox_inches='tight')
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def _num(v) -> float:
    return np.nan if v is None else float(v)


def det_chart(table: Table, path: str) -> str:
    """Grouped bars of the six AP metrics per activation; the paper's rows, if in
    the table, as hatched bars.

    Args:
        table (Table): from ``det_table``.
        path (str): PNG file to write.
    """
    rows = [(r[0], r[1], r) for r, d in zip(table.rows, table.delta_rows) if not d]
    idx = [table.headers.index(k) for k in DET_METRICS]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(len(rows), 1)
    x = np.arange(len(DET_METRICS))
    for i, (source, act, row) in enumerate(rows):
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, [_num(row[j]) for j in idx], width,
               label=f'{act} ({source})', color=COLORS.get(act, 'gray'),
               hatch='//' if source == 'paper' else None, alpha=0.55 if source == 'paper' else 1.0,
               edgecolor='black', linewidth=0.4)
    ax.set_xticks(x, DET_METRICS)
    ax.set_ylabel('AP (%)')
    ax.set_title(table.title)
    ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis='y', alpha=0.3)
    return _save(fig, path)


def seg_chart(table: Table, path: str) -> str:
    """Top: per-class IoU of each run; bottom (when there are delta columns):
    IoU difference to ReLU, ours as bars, the paper's as markers.

    Args:
        table (Table): from ``seg_table``.
        path (str): PNG file to write.
    """
    names = table.column('class')
    acts = [h for h, k in zip(table.headers, table.kinds) if k == 'pct' and not h.startswith('paper')]
    ours_d = [h for h, k in zip(table.headers, table.kinds) if k == 'delta' and not h.startswith('paper')]
    paper_d = [h for h, k in zip(table.headers, table.kinds) if k == 'delta' and h.startswith('paper')]
    panels = 2 if (ours_d or paper_d) else 1
    fig, axes = plt.subplots(panels, 1, figsize=(max(8, 0.55 * len(names)), 3.6 * panels), squeeze=False)
    x = np.arange(len(names))
    ax = axes[0, 0]
    width = 0.8 / max(len(acts), 1)
    for i, act in enumerate(acts):
        ax.bar(x + (i - (len(acts) - 1) / 2) * width, [_num(v) for v in table.column(act)], width,
               label=act, color=COLORS.get(act, 'gray'))
    ax.set_ylabel('IoU (%)')
    ax.set_title(table.title)
    ax.set_xticks(x, names, rotation=60, ha='right', fontsize=8)
    ax.legend(fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    if panels == 2:
        ax = axes[1, 0]
        width = 0.8 / max(len(ours_d), 1)
        for i, h in enumerate(ours_d):
            act = h.split(' ', 1)[1]
            ax.bar(x + (i - (len(ours_d) - 1) / 2) * width, [_num(v) for v in table.column(h)], width,
                   label=f'{act} - ReLU (ours)', color=COLORS.get(act, 'gray'))
        for h in paper_d:
            act = h.rsplit(' ', 1)[1]
            ax.plot(x, [_num(v) for v in table.column(h)], linestyle='none', marker='x',
                    color=COLORS.get(act, 'black'), label=f'{act} - ReLU (paper)')
        ax.axhline(0, color='black', linewidth=0.6)
        ax.set_ylabel(f'{DELTA} IoU vs ReLU (points)')
        ax.set_xticks(x, names, rotation=60, ha='right', fontsize=8)
        ax.legend(fontsize=8)
        ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def chart(table: Table, task: str, path: Optional[str]) -> Optional[str]:
    """Draw the chart of a ``det`` or ``seg`` table.

    Args:
        table (Table): the table.
        task (str): ``'det'`` or ``'seg'``.
        path (str | None): PNG path; None draws nothing.
    """
    if path is None:
        return None
    return det_chart(table, path) if task == 'det' else seg_chart(table, path)
