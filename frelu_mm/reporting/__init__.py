"""Comparison of ReLU / Swish / FReLU runs in the paper's layout."""
from .compare import build_tables, save_comparison
from .paper_tables import (ACTIVATIONS, IMAGENET_ACTIVATIONS, paper_backbones, paper_imagenet,
                           paper_pspnet_iou, paper_retinanet)
from .runs import RunResult, find_breakdown, find_dumped_config, load_runs, run_complexity
from .tables import (DELTA, Table, cls_table, det_table, format_cell, seg_table, table_to_csv,
                     table_to_markdown)

__all__ = [
    'build_tables', 'save_comparison', 'ACTIVATIONS', 'IMAGENET_ACTIVATIONS', 'paper_backbones',
    'paper_imagenet', 'paper_pspnet_iou', 'paper_retinanet', 'RunResult', 'find_breakdown',
    'find_dumped_config', 'load_runs', 'run_complexity', 'DELTA', 'Table', 'cls_table', 'det_table',
    'format_cell', 'seg_table', 'table_to_csv', 'table_to_markdown'
]
