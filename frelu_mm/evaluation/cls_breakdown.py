"""Classification metric (mmpretrain's ``Accuracy``) that also gives per-class accuracy.

mmpretrain is imported when the metric is built, not when this module is: the
metric is always registered, and ``import frelu_mm`` works without mmpretrain.
"""
import collections
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.registry import METRICS

from .breakdown_io import make_breakdown, report_breakdown

MMPRETRAIN_HINT = ('the classification breakdown (AccuracyBreakdownMetric) wraps mmpretrain\'s '
                   'Accuracy: install it with `pip install mmpretrain==1.2.0`')


def host_accuracy_class():
    """mmpretrain's ``Accuracy`` class.

    Raises:
        ImportError: mmpretrain is not installed (the message says how to).
    """
    try:
        from mmpretrain.evaluation import Accuracy
    except ImportError as e:
        raise ImportError(f'{MMPRETRAIN_HINT} ({e})') from e
    return Accuracy


def unique_class_names(classes: Sequence[str]) -> List[str]:
    """Class names made unique: a repeated name gets its index, ``'crane #134'``.

    (ImageNet-1k names two classes ``'crane'``: the bird and the machine.)

    Args:
        classes (Sequence[str]): names in dataset order.
    """
    counts = collections.Counter(str(c) for c in classes)
    return [f'{c} #{i}' if counts[str(c)] > 1 else str(c) for i, c in enumerate(classes)]


def _percent(correct: np.ndarray) -> Optional[float]:
    return float(correct.sum()) / correct.size * 100 if correct.size else None


@METRICS.register_module()
class AccuracyBreakdownMetric(BaseMetric):
    """mmpretrain's ``Accuracy`` plus a per-class breakdown.

    Returns what ``Accuracy`` returns (``accuracy/top1``, ``accuracy/top5``, ...;
    computed by an ``Accuracy`` built with the same arguments). A top-k larger
    than the number of classes, which makes ``Accuracy`` raise, is left out
    with a warning.

    The breakdown (task ``'cls'``, percent) holds overall ``top1``, ``top5``
    (``None`` with fewer than 5 classes or label-only predictions) and
    ``err1 = 100 - top1``, and per class ``Acc``: the top-1 accuracy on the
    images of that class (``None`` when it has none). A prediction counts as
    correct as in ``Accuracy`` with its first threshold (``thrs[0]``, default
    0: the score must be above 0). Classes follow ``dataset_meta['classes']``
    (repeated names get their index). It is kept in ``self.breakdown``,
    printed, and with ``breakdown_dir`` saved as ``breakdown.json/.csv/.md``.

    Args:
        topk (int | Sequence[int]): as ``Accuracy``. Default ``(1, )``.
        thrs (float | Sequence[float | None] | None): as ``Accuracy``. Default 0.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric name prefix; default ``'accuracy'``.
        breakdown_dir (str, optional): folder for the breakdown files; ``None``
            saves nothing.
    """
    default_prefix: Optional[str] = 'accuracy'

    def __init__(self, topk: Union[int, Sequence[int]] = (1, ),
                 thrs: Union[float, Sequence[Optional[float]], None] = 0.,
                 collect_device: str = 'cpu', prefix: Optional[str] = None,
                 breakdown_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.host = host_accuracy_class()(topk=topk, thrs=thrs, collect_device=collect_device,
                                          prefix=prefix)
        self.topk, self.thrs = self.host.topk, self.host.thrs
        self.breakdown_dir = breakdown_dir
        self.breakdown: Optional[dict] = None

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's score (or label) and ground truth, as ``Accuracy``.

        Args:
            data_batch: the batch (unused).
            data_samples (Sequence[dict]): the model's outputs.
        """
        self.host.process(data_batch, data_samples)
        self.results.extend(self.host.results)
        self.host.results.clear()

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Host metrics, then the breakdown (see the class docstring).

        Args:
            results (list): per-sample ``pred_score`` / ``pred_label`` and ``gt_label``.
        """
        metrics = self._host_metrics(results)
        self.breakdown = self.compute_breakdown(results)
        report_breakdown(self.breakdown, self.breakdown_dir)
        return metrics

    def _host_metrics(self, results: list) -> Dict[str, float]:
        if 'pred_score' not in results[0]:
            return self.host.compute_metrics(results)
        num_classes = int(results[0]['pred_score'].numel())
        valid = tuple(k for k in self.topk if k <= num_classes)
        if valid != self.topk:
            print_log(f'AccuracyBreakdownMetric: top-{[k for k in self.topk if k > num_classes]} '
                      f'undefined with {num_classes} classes; not reported',
                      logger='current', level=30)
        if not valid:
            return {}
        self.host.topk = valid
        try:
            return self.host.compute_metrics(results)
        finally:
            self.host.topk = self.topk

    def _class_names(self, num_classes: int) -> List[str]:
        classes = list((self.dataset_meta or {}).get('classes') or ())
        if classes and len(classes) != num_classes:
            print_log(f'AccuracyBreakdownMetric: dataset_meta has {len(classes)} classes, the '
                      f'predictions {num_classes}', logger='current', level=30)
        count = max(num_classes, len(classes))
        return unique_class_names([classes[i] if i < len(classes) else f'class {i}'
                                   for i in range(count)])

    def compute_breakdown(self, results: list) -> dict:
        """The breakdown dict from per-sample results.

        Args:
            results (list): per-sample ``pred_score`` (C,) or ``pred_label``,
                and ``gt_label``.
        """
        target = torch.cat([torch.as_tensor(r['gt_label']).reshape(-1) for r in results]).long()
        thr = self.thrs[0]
        if 'pred_score' in results[0]:
            scores = torch.stack([torch.as_tensor(r['pred_score']) for r in results]).float()
            num_classes = scores.shape[1]
            k = min(5, num_classes)
            top_score, top_label = scores.topk(k, dim=1)  # as Accuracy: torch's topk
            hit = top_label.eq(target[:, None])
            if thr is not None:
                hit &= top_score > thr
            top1 = hit[:, 0].numpy()
            top5 = hit[:, :5].any(1).numpy() if num_classes >= 5 else None
        else:
            pred = torch.cat([torch.as_tensor(r['pred_label']).reshape(-1) for r in results])
            top1, top5 = pred.long().eq(target).numpy(), None
            num_classes = int(max(target.max(), pred.max())) + 1
            num_classes = max(num_classes, len((self.dataset_meta or {}).get('classes') or ()))
        target = target.numpy()
        top1_pct = _percent(top1)
        overall = {'top1': top1_pct, 'top5': None if top5 is None else _percent(top5),
                   'err1': None if top1_pct is None else 100 - top1_pct}
        per_class = {name: {'Acc': _percent(top1[target == c])}
                     for c, name in enumerate(self._class_names(num_classes))}
        return make_breakdown('cls', overall, per_class)
