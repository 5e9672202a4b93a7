"""PNG charts of the comparison tables (matplotlib, Agg backend)."""
import io
from typing import Optional

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..evaluation.atomic import atomic_write  # noqa: E402
from ..evaluation.breakdown_io import DET_METRICS  # noqa: E402
from .paper_tables import IMAGENET_ACTIVATIONS  # noqa: E402
from .tables import CLS_COLUMNS, DELTA, Table  # noqa: E402

COLORS = {'ReLU': '#4c72b0', 'PReLU': '#8172b3', 'Swish': '#dd8452', 'FReLU': '#55a868'}


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


def _bar_style(source: str, act: str) -> dict:
    paper = source.startswith('paper')
    return dict(color=COLORS.get(act, 'gray'), hatch='//' if paper else None,
                alpha=0.55 if paper else 1.0, edgecolor='black', linewidth=0.4)


def cls_chart(table: Table, path: str) -> str:
    """Left: top-1 / top-5 error of each run, the paper's rows hatched, values on
    the bars; right (when there are delta rows): top-1 error minus ReLU's per
    activation, ours and the paper's side by side (below 0 = fewer errors).

    Args:
        table (Table): from ``cls_table``.
        path (str): PNG file to write.
    """
    from matplotlib.patches import Patch
    rows = [r for r, d in zip(table.rows, table.delta_rows) if not d]
    deltas = [r for r, d in zip(table.rows, table.delta_rows) if d]
    idx = [table.headers.index(k) for k in CLS_COLUMNS]
    panels = 2 if deltas else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.2), squeeze=False,
                             gridspec_kw=dict(width_ratios=[1.3, 1][:panels]))
    ax = axes[0, 0]
    per_group = [[r for r in rows if r[j] is not None] for j in idx]  # no empty slots
    width = 0.8 / max([len(g) for g in per_group] + [1])
    for g, (j, group) in enumerate(zip(idx, per_group)):
        for i, row in enumerate(group):
            bars = ax.bar(g + (i - (len(group) - 1) / 2) * width, row[j], width,
                          **_bar_style(row[0], row[1]))
            ax.bar_label(bars, fmt='%.1f', fontsize=7, padding=1, rotation=90)
    ax.set_xticks(np.arange(len(CLS_COLUMNS)), CLS_COLUMNS)
    ax.set_ylabel('error (%)')
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    ax.set_title(table.title, fontsize=10)
    ax.legend(handles=[Patch(label=f'{r[1]} ({r[0]})', **_bar_style(r[0], r[1])) for r in rows],
              fontsize=8, loc='upper right')
    ax.grid(axis='y', alpha=0.3)
    if panels == 2:
        ax = axes[0, 1]
        j = idx[0]
        names = list(dict.fromkeys(r[1].split(' - ')[0] for r in deltas))
        acts = [a for a in IMAGENET_ACTIVATIONS if a in names] + \
            [a for a in names if a not in IMAGENET_ACTIVATIONS]
        sources = list(dict.fromkeys(r[0] for r in deltas))
        width = 0.8 / len(sources)
        values = [0.0]
        for g, act in enumerate(acts):
            cells = [(r[0], r[j]) for r in deltas if r[1].split(' - ')[0] == act and r[j] is not None]
            for i, (source, value) in enumerate(cells):
                style = _bar_style(source, act)
                bars = ax.bar(g + (i - (len(cells) - 1) / 2) * width, value, width, **style)
                ax.bar_label(bars, fmt='%+.1f', fontsize=7, padding=1)
                values.append(value)
        handles = [Patch(facecolor='white', label=s.replace(f' {DELTA}', ''),
                         **{k: v for k, v in _bar_style(s, '').items() if k != 'color'})
                   for s in sources]
        pad = 0.15 * (max(values) - min(values)) or 0.5
        ax.set_ylim(min(values) - pad, max(values) + pad)
        ax.axhline(0, color='black', linewidth=0.6)
        ax.set_xticks(np.arange(len(acts)), [f'{a} - ReLU' for a in acts])
        ax.set_ylabel(f'{DELTA} top-1 error (points)')
        ax.set_title("top-1 error minus ReLU's (below 0 = better)", fontsize=10)
        ax.legend(handles=handles, fontsize=8)
        ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


CHARTS = {'det': det_chart, 'seg': seg_chart, 'cls': cls_chart}


def chart(table: Table, task: str, path: Optional[str]) -> Optional[str]:
    """Draw the chart of a ``det``, ``seg`` or ``cls`` table.

    Args:
        table (Table): the table.
        task (str): ``'det'``, ``'seg'`` or ``'cls'``.
        path (str | None): PNG path; None draws nothing.
    """
    if path is None:
        return None
    return CHARTS[task](table, path)
