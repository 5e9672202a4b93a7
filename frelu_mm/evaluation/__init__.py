"""Evaluation with per-class breakdowns (registered in mmengine's root METRICS).

The classification metric imports mmpretrain only when it is built.
"""
from .atomic import atomic_write
from .breakdown_io import (BREAKDOWN_FILES, CLS_CLASS_METRICS, CLS_OVERALL_METRICS,
                           DET_METRICS, SEG_CLASS_METRICS, SEG_OVERALL_METRICS, TASK_METRICS,
                           breakdown_to_csv, breakdown_to_markdown, breakdown_to_text,
                           load_breakdown, make_breakdown, report_breakdown, save_breakdown,
                           validate_breakdown)
from .cls_breakdown import AccuracyBreakdownMetric, unique_class_names
from .coco_breakdown import CocoBreakdownMetric, summarize_category
from .evaluator_swap import BREAKDOWN_TYPES, to_breakdown_evaluator
from .iou_breakdown import IoUBreakdownMetric

__all__ = [
    'atomic_write', 'BREAKDOWN_FILES', 'CLS_CLASS_METRICS', 'CLS_OVERALL_METRICS',
    'DET_METRICS', 'SEG_CLASS_METRICS', 'SEG_OVERALL_METRICS', 'TASK_METRICS',
    'breakdown_to_csv', 'breakdown_to_markdown', 'breakdown_to_text', 'load_breakdown',
    'make_breakdown', 'report_breakdown', 'save_breakdown', 'validate_breakdown',
    'CocoBreakdownMetric', 'summarize_category', 'BREAKDOWN_TYPES', 'to_breakdown_evaluator',
    'IoUBreakdownMetric', 'AccuracyBreakdownMetric', 'unique_class_names'
]
