"""Evaluation with per-class breakdowns (registered in mmengine's root METRICS)."""
from .atomic import atomic_write
from .breakdown_io import (BREAKDOWN_FILES, DET_METRICS, SEG_CLASS_METRICS,
                           SEG_OVERALL_METRICS, breakdown_to_csv, breakdown_to_markdown,
                           breakdown_to_text, load_breakdown, make_breakdown,
                           report_breakdown, save_breakdown, validate_breakdown)
from .coco_breakdown import CocoBreakdownMetric, summarize_category
from .evaluator_swap import BREAKDOWN_TYPES, to_breakdown_evaluator
from .iou_breakdown import IoUBreakdownMetric

__all__ = [
    'atomic_write', 'BREAKDOWN_FILES', 'DET_METRICS', 'SEG_CLASS_METRICS',
    'SEG_OVERALL_METRICS', 'breakdown_to_csv', 'breakdown_to_markdown', 'breakdown_to_text',
    'load_breakdown', 'make_breakdown', 'report_breakdown', 'save_breakdown',
    'validate_breakdown', 'CocoBreakdownMetric', 'summarize_category', 'BREAKDOWN_TYPES',
    'to_breakdown_evaluator', 'IoUBreakdownMetric'
]
