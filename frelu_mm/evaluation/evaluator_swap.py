"""Swap a host evaluator config for the breakdown metrics."""
import copy
import importlib.util
from typing import Any, Optional

from mmengine.logging import print_log

# host metric type -> breakdown metric type
BREAKDOWN_TYPES = {
    'CocoMetric': 'CocoBreakdownMetric',
    'IoUMetric': 'IoUBreakdownMetric',
    'CityscapesMetric': 'IoUBreakdownMetric',
    'Accuracy': 'AccuracyBreakdownMetric',
    'CocoBreakdownMetric': 'CocoBreakdownMetric',
    'IoUBreakdownMetric': 'IoUBreakdownMetric',
    'AccuracyBreakdownMetric': 'AccuracyBreakdownMetric',
}
# CityscapesMetric's arguments that IoUMetric also takes
_CITYSCAPES_KEPT = ('ignore_index', 'collect_device', 'prefix')


def _bare_type(t: Any) -> Any:
    return t.split('.')[-1] if isinstance(t, str) else t


def _swap_metric(cfg: dict, breakdown_dir: Optional[str]) -> Optional[dict]:
    """The breakdown version of one metric cfg, or None if it has none."""
    kind = _bare_type(cfg.get('type'))
    if kind not in BREAKDOWN_TYPES:
        return None
    if cfg.get('format_only', False):
        return None  # no ground truth: nothing to break down
    if kind == 'CocoMetric' or kind == 'CocoBreakdownMetric':
        metric = cfg.get('metric', 'bbox')
        if 'bbox' not in (metric if isinstance(metric, (list, tuple)) else [metric]):
            return None
    needs_mmpretrain = kind in ('Accuracy', 'AccuracyBreakdownMetric')
    if needs_mmpretrain and importlib.util.find_spec('mmpretrain') is None:
        from .cls_breakdown import MMPRETRAIN_HINT
        raise ImportError(f'{cfg.get("type")}: {MMPRETRAIN_HINT}')
    if kind == 'CityscapesMetric':
        new = {k: cfg[k] for k in _CITYSCAPES_KEPT if k in cfg}
        new['iou_metrics'] = ['mIoU']
    else:
        new = {k: v for k, v in cfg.items() if k != 'type'}
    new = dict(type=BREAKDOWN_TYPES[kind], **new)
    new['breakdown_dir'] = breakdown_dir
    return new


def to_breakdown_evaluator(evaluator_cfg: Any, breakdown_dir: Optional[str]) -> Any:
    """Return a copy of an evaluator cfg whose first COCO/IoU/Cityscapes/Accuracy
    metric is the breakdown metric, writing to ``breakdown_dir``.

    ``CocoMetric`` (bbox) -> ``CocoBreakdownMetric``, ``IoUMetric`` ->
    ``IoUBreakdownMetric`` and mmpretrain's ``Accuracy`` ->
    ``AccuracyBreakdownMetric`` keep every argument; ``CityscapesMetric`` ->
    ``IoUBreakdownMetric`` keeps ``ignore_index``, ``collect_device``, ``prefix``
    (the official Cityscapes numbers come from the same confusion counts; see
    the tests). Metrics with ``format_only=True`` and other types are left as
    they are; if nothing could be swapped a warning is logged.

    Args:
        evaluator_cfg (dict | list | ConfigDict): a ``test_evaluator``: one
            metric cfg, a list of them, or ``dict(type='Evaluator', metrics=...)``.
        breakdown_dir (str, optional): folder for the breakdown files.

    Returns:
        the same structure (plain dicts/lists), with the metric swapped.

    Raises:
        ImportError: an ``Accuracy`` is to be swapped but mmpretrain is not
            installed.
    """
    cfg = _to_plain(copy.deepcopy(evaluator_cfg))
    holder, key = None, None
    if isinstance(cfg, dict) and _bare_type(cfg.get('type')) == 'Evaluator':
        holder, key = cfg, 'metrics'
        metrics = cfg['metrics']
    else:
        metrics = cfg
    single = isinstance(metrics, dict)
    items = [metrics] if single else list(metrics)
    for i, m in enumerate(items):
        new = _swap_metric(m, breakdown_dir)
        if new is not None:
            items[i] = new
            break
    else:
        print_log('to_breakdown_evaluator: no CocoMetric(bbox)/IoUMetric/CityscapesMetric/Accuracy '
                  'to swap; no breakdown will be written', logger='current', level=30)
    result = items[0] if single else items
    if holder is not None:
        holder[key] = result
        return holder
    return result


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj
