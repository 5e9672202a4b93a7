"""The comparison tables in the paper's layout, with deltas against ReLU."""
import csv
import io
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from prettytable import PrettyTable, TableStyle

from ..analysis.complexity import format_count
from ..evaluation.breakdown_io import DET_METRICS
from .paper_tables import (ACTIVATIONS, IMAGENET_ACTIVATIONS, MEAN_IU, paper_backbones,
                           paper_imagenet, paper_pspnet_iou, paper_retinanet)
from .runs import RunResult

DELTA = '\u0394'  # Δ
CLS_COLUMNS = ('top-1 err', 'top-5 err')


@dataclass
class Table:
    """A table whose cells keep their numbers (None = not available).

    Args:
        title (str): heading.
        headers (List[str]): column names.
        kinds (List[str]): per column: ``'text'``, ``'count'`` (params/FLOPs,
            shown as 25.6M / 4.11G), ``'pct'`` (percent) or ``'delta'`` (signed
            percent points).
        rows (List[list]): cells.
        delta_rows (List[bool]): per row, numbers are differences (signed).
        notes (List[str]): lines printed under the table.
    """
    title: str
    headers: List[str]
    kinds: List[str]
    rows: List[list] = field(default_factory=list)
    delta_rows: List[bool] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def add(self, row: list, delta: bool = False) -> None:
        self.rows.append(row)
        self.delta_rows.append(delta)

    def column(self, header: str) -> list:
        """Cells of one column."""
        i = self.headers.index(header)
        return [r[i] for r in self.rows]

    def row(self, first: str, second: Optional[str] = None) -> list:
        """The first row whose first cell (and second, if given) match."""
        for r in self.rows:
            if r[0] == first and (second is None or r[1] == second):
                return r
        raise KeyError((first, second))


def _sub(a, b):
    return None if a is None or b is None else a - b


def format_cell(value, kind: str, delta: bool = False, digits: int = 1) -> str:
    """One cell as text.

    Args:
        value: the number or text (None -> ``'-'``).
        kind (str): see :class:`Table`.
        delta (bool): signed difference.
        digits (int): decimals of percentages.
    """
    if value is None:
        return '-'
    if kind == 'text':
        return str(value)
    if kind == 'count':
        text = format_count(abs(value)) if delta else format_count(value)
        return (('+' if value >= 0 else '-') + text) if delta else text
    if kind == 'delta' or delta:
        return f'{value:+.{digits}f}'
    return f'{value:.{digits}f}'


def _present(runs: Dict[str, RunResult]) -> List[str]:
    return [a for a in ACTIVATIONS if a in runs] + [a for a in runs if a not in ACTIVATIONS]


def _add_block(table: Table, source: str, by_act: Dict[str, list]) -> None:
    """One row per activation, then ``X - ReLU`` delta rows if ReLU is there."""
    for act, vals in by_act.items():
        table.add([source, act, *vals])
    if 'ReLU' in by_act:
        for act, vals in by_act.items():
            if act != 'ReLU':
                table.add([f'{source} {DELTA}', f'{act} - ReLU',
                           *[_sub(a, b) for a, b in zip(vals, by_act['ReLU'])]], delta=True)


def _run_notes(table: Table, runs: Dict[str, RunResult], what: str) -> None:
    sources = sorted({(r.complexity or {}).get('setting', '') for r in runs.values()} - {''})
    table.notes.append('runs: ' + '; '.join(f'{a} {runs[a].source}' for a in _present(runs)))
    table.notes.append(f'params/FLOPs: {what}, FReLU\'s max counted'
                       + (f' ({", ".join(sources)})' if sources else '') + '; "-" = not available.')


def det_table(runs: Dict[str, RunResult], paper: bool = False,
              paper_backbone: str = 'ResNet-50') -> Table:
    """Detection table: activation, params, FLOPs, mAP, AP50, AP75, APs, APm, APl.

    Rows: each run; ``X - ReLU`` delta rows when a ReLU run is given; with
    ``paper`` the paper's rows and deltas for ``paper_backbone``.

    Args:
        runs (Dict[str, RunResult]): activation -> detection run.
        paper (bool): add the paper's numbers.
        paper_backbone (str): which of the paper's backbones.
    """
    table = Table('RetinaNet (COCO-style bbox AP, %)',
                  ['source', 'activation', 'params', 'FLOPs', *DET_METRICS],
                  ['text', 'text', 'count', 'count', *['pct'] * len(DET_METRICS)])

    def values(run: RunResult) -> list:
        cx = run.complexity or {}
        return [cx.get('params'), cx.get('flops'), *[run.breakdown['overall'][k] for k in DET_METRICS]]

    ours = {act: values(runs[act]) for act in _present(runs)}
    _add_block(table, 'ours', ours)
    if ours and 'ReLU' not in ours:
        table.notes.append(f'No ReLU run: no {DELTA} rows for ours.')
    if paper and paper_backbone not in paper_backbones('det'):
        table.notes.append(f'paper: no RetinaNet {paper_backbone} rows in the paper '
                           f'(it has {", ".join(paper_backbones("det"))}).')
    elif paper:
        ref = paper_retinanet(paper_backbone)
        _add_block(table, 'paper', {act: [ref[act]['params'], ref[act]['flops'],
                                          *[ref[act][k] for k in DET_METRICS]] for act in ACTIVATIONS})
        table.notes.append(f'paper: RetinaNet {paper_backbone}, COCO (Ma et al., ECCV 2020).')
    _run_notes(table, runs, "the backbone as a 1000-class ImageNet model at 224x224 (the paper's column)")
    return table


def cls_table(runs: Dict[str, RunResult], paper: bool = False,
              paper_backbone: str = 'ResNet-50') -> Table:
    """ImageNet table: activation, params, FLOPs, top-1 err, top-5 err (100 - accuracy).

    Rows: each run; ``X - ReLU`` delta rows when a ReLU run is given (lower
    error is better: a negative delta is a gain); with ``paper`` the paper's
    ReLU / PReLU / Swish / FReLU rows for ``paper_backbone`` (top-1 error only)
    and their deltas.

    Args:
        runs (Dict[str, RunResult]): activation -> classification run.
        paper (bool): add the paper's numbers.
        paper_backbone (str): which of the paper's backbones.
    """
    table = Table('ImageNet classification (top-1 / top-5 error, %)',
                  ['source', 'activation', 'params', 'FLOPs', *CLS_COLUMNS],
                  ['text', 'text', 'count', 'count', 'pct', 'pct'])

    def values(run: RunResult) -> list:
        cx, overall = run.complexity or {}, run.breakdown['overall']
        return [cx.get('params'), cx.get('flops'), overall['err1'], _sub(100.0, overall['top5'])]

    ours = {act: values(runs[act]) for act in _present(runs)}
    _add_block(table, 'ours', ours)
    if ours and 'ReLU' not in ours:
        table.notes.append(f'No ReLU run: no {DELTA} rows for ours.')
    if paper:
        ref = paper_imagenet(paper_backbone)
        _add_block(table, 'paper', {act: [ref[act]['params'], ref[act]['flops'], ref[act]['top1_err'],
                                          None] for act in IMAGENET_ACTIVATIONS})
        table.notes.append(f'paper: ImageNet {paper_backbone}, top-1 error (Ma et al., ECCV 2020; '
                           'no top-5 error given; ReLU, PReLU and Swish share one params/FLOPs value).')
    table.notes.append(f'error = 100 - accuracy; {DELTA} = X - ReLU in points, negative = fewer errors.')
    _run_notes(table, runs, 'the whole classifier at 224x224')
    return table


def seg_table(runs: Dict[str, RunResult], paper: bool = False) -> Table:
    """Segmentation table: one row per class, ``mean IU`` first; one IoU column
    per activation, ``X - ReLU`` delta columns, and with ``paper`` the paper's
    columns and deltas (classes matched by name).

    Args:
        runs (Dict[str, RunResult]): activation -> segmentation run.
        paper (bool): add the paper's PSPNet ResNet-50 Cityscapes numbers.
    """
    acts = _present(runs)
    headers, kinds = ['class'], ['text']
    headers += acts
    kinds += ['pct'] * len(acts)
    ours_deltas = [a for a in acts if a != 'ReLU'] if 'ReLU' in acts else []
    headers += [f'{DELTA} {a}' for a in ours_deltas]
    kinds += ['delta'] * len(ours_deltas)
    ref = paper_pspnet_iou() if paper else {}
    if paper:
        headers += [f'paper {a}' for a in ACTIVATIONS] + [f'paper {DELTA} {a}' for a in ACTIVATIONS[1:]]
        kinds += ['pct'] * len(ACTIVATIONS) + ['delta'] * (len(ACTIVATIONS) - 1)
    table = Table('PSPNet per-class IoU (%)', headers, kinds)

    classes: List[str] = []
    for act in acts:
        classes += [c for c in runs[act].breakdown['per_class'] if c not in classes]

    def iou(act: str, name: str):
        bd = runs[act].breakdown
        return bd['overall']['mIoU'] if name == MEAN_IU else bd['per_class'].get(name, {}).get('IoU')

    for name in [MEAN_IU, *classes]:
        row = [name, *[iou(a, name) for a in acts]]
        row += [_sub(iou(a, name), iou('ReLU', name)) for a in ours_deltas]
        if paper:
            vals = [ref[a].get(name) for a in ACTIVATIONS]
            row += vals + [_sub(v, vals[0]) for v in vals[1:]]
        table.add(row)
    if acts and 'ReLU' not in acts:
        table.notes.append(f'No ReLU run: no {DELTA} columns for ours.')
    if paper:
        table.notes.append('paper: PSPNet ResNet-50, Cityscapes val (Ma et al., ECCV 2020); '
                           'classes matched by name.')
    table.notes.append(f'{DELTA}: difference to ReLU in IoU points; "-" = not available.')
    table.notes.append('runs: ' + '; '.join(f'{a} {runs[a].source}' for a in acts))
    return table


def _pretty(table: Table, digits: int) -> PrettyTable:
    pt = PrettyTable(table.headers)
    for row, delta in zip(table.rows, table.delta_rows):
        pt.add_row([format_cell(v, k, delta, digits) for v, k in zip(row, table.kinds)])
    for h, k in zip(table.headers, table.kinds):
        pt.align[h] = 'l' if k == 'text' else 'r'
    return pt


def table_to_markdown(table: Table, digits: int = 1) -> str:
    """Markdown: ``### title``, the table, the notes.

    Args:
        table (Table): the table.
        digits (int): decimals of percentages.
    """
    pt = _pretty(table, digits)
    pt.set_style(TableStyle.MARKDOWN)
    notes = ''.join(f'\n{n}  ' for n in table.notes)
    return f'### {table.title}\n\n{pt.get_string()}\n{notes}\n'


def table_to_csv(table: Table) -> str:
    """CSV with the raw numbers (full precision; empty = not available).

    Args:
        table (Table): the table.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow(['' if v is None else v for v in row])
    return buf.getvalue()
