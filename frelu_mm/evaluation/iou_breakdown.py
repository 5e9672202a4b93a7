"""Semantic segmentation metric that also gives per-class IoU and Acc."""
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.registry import METRICS
from mmseg.evaluation.metrics import IoUMetric

from .breakdown_io import make_breakdown, report_breakdown


def _as_float64(area) -> torch.Tensor:
    if isinstance(area, torch.Tensor):
        return area.detach().cpu().to(torch.float64)
    return torch.as_tensor(np.asarray(area), dtype=torch.float64)


@METRICS.register_module()
class IoUBreakdownMetric(IoUMetric):
    """mmseg's ``IoUMetric`` plus a per-class breakdown (IoU and Acc).

    Overall: ``mIoU``, ``mAcc`` (means over classes, NaN classes skipped),
    ``aAcc``; per class: ``IoU``, ``Acc``; all in percent, classes in
    ``dataset_meta['classes']`` order (Cityscapes: the paper's order). A class
    absent from both ground truth and prediction has IoU ``None``.

    The per-image pixel counts are summed in float64 (the host sums float32,
    which stops being exact above 2**24 pixels per class, i.e. on real
    Cityscapes val), so the counts are exact and the numbers are those of
    cityscapesscripts' pixel-level evaluation on the same predictions. The
    returned metrics are the host's, computed from the same float64 sums.

    Args:
        *args: positional arguments of ``IoUMetric``.
        breakdown_dir (str, optional): folder for ``breakdown.json/.csv/.md``;
            ``None`` saves nothing (the table is still printed).
        **kwargs: keyword arguments of ``IoUMetric`` (``ignore_index``,
            ``iou_metrics``, ``nan_to_num``, ...).
    """

    def __init__(self, *args, breakdown_dir: Optional[str] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.breakdown_dir = breakdown_dir
        self.breakdown: Optional[dict] = None

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Host metrics, then the breakdown (see the class docstring).

        Args:
            results (list): per-image ``(intersect, union, pred, label)`` areas.
        """
        if self.format_only:
            return super().compute_metrics(results)
        results = [tuple(_as_float64(a) for a in r) for r in results]
        metrics = super().compute_metrics(results)
        self.breakdown = self.compute_breakdown(results)
        report_breakdown(self.breakdown, self.breakdown_dir)
        return metrics

    def compute_breakdown(self, results: list) -> dict:
        """The breakdown dict from per-image areas.

        Args:
            results (list): per-image ``(intersect, union, pred, label)`` areas.
        """
        totals = [sum(_as_float64(r[i]) for r in results) for i in range(4)]
        with np.errstate(divide='ignore', invalid='ignore'):
            ret = self.total_area_to_metrics(*totals, ['mIoU'], self.nan_to_num, self.beta)
            iou, acc = ret['IoU'], ret['Acc']
            overall = {'mIoU': np.nanmean(iou) * 100 if not np.isnan(iou).all() else None,
                       'mAcc': np.nanmean(acc) * 100 if not np.isnan(acc).all() else None,
                       'aAcc': float(ret['aAcc']) * 100}
        per_class = {name: {'IoU': float(iou[i]) * 100, 'Acc': float(acc[i]) * 100}
                     for i, name in enumerate(self.dataset_meta['classes'])}
        return make_breakdown('seg', overall, per_class)
