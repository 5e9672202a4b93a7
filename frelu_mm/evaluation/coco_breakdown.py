"""COCO bbox metric that also gives per-class AP, AP50, AP75, APs, APm, APl."""
import contextlib
import copy
import io
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmdet.datasets.api_wrappers import COCO, COCOevalMP
from mmdet.evaluation.metrics import CocoMetric
from mmengine.fileio import load
from mmengine.logging import MMLogger
from mmengine.registry import METRICS
from pycocotools.cocoeval import COCOeval

from .breakdown_io import DET_METRICS, make_breakdown, report_breakdown


def _percent_or_none(stat: float) -> Optional[float]:
    # COCOeval.summarize reports -1 where nothing is defined (no ground truth).
    return None if stat < 0 else float(stat) * 100


def summarize_category(coco_eval: COCOeval, index: int) -> np.ndarray:
    """``COCOeval.summarize()`` restricted to one category of an accumulated eval.

    With ``useCats=1`` pycocotools evaluates and accumulates every category on
    its own, so slicing the accumulated precision/recall to category ``index``
    and summarizing gives exactly the stats of a COCOeval run with
    ``params.catIds=[that category]``.

    Args:
        coco_eval (COCOeval): evaluated and accumulated over ``params.catIds``.
        index (int): position of the category in ``coco_eval.params.catIds``.

    Returns:
        np.ndarray: the 12 ``stats`` of pycocotools (fractions, -1 undefined).
    """
    view = copy.copy(coco_eval)
    view.params = copy.copy(coco_eval.params)
    view.params.catIds = [coco_eval.params.catIds[index]]
    view.eval = dict(coco_eval.eval)
    view.eval['precision'] = coco_eval.eval['precision'][:, :, index:index + 1]
    view.eval['recall'] = coco_eval.eval['recall'][:, index:index + 1]
    with contextlib.redirect_stdout(io.StringIO()):
        view.summarize()
    return view.stats


@METRICS.register_module()
class CocoBreakdownMetric(CocoMetric):
    """mmdet's ``CocoMetric`` plus a per-class bbox breakdown.

    Returns the same metrics as ``CocoMetric``. When ``'bbox'`` is evaluated, it
    also runs pycocotools' COCOeval on the same detections with the same
    parameters (categories, images, IoU thresholds, ``maxDets = proposal_nums``;
    the AP stats use ``maxDets[2]``, 1000 by default in mmdet, 100 in a plain
    COCOeval) and takes, for every class, the six AP stats that ``summarize()``
    gives for that class alone. The breakdown (percent; ``None`` where COCOeval
    says -1, i.e. no ground truth in that area range) is kept in
    ``self.breakdown``, printed, and with ``breakdown_dir`` saved as
    ``breakdown.json/.csv/.md``. Classes follow ``dataset_meta['classes']``.

    This second COCOeval pass costs about as much as the host's own evaluation.

    Args:
        *args: positional arguments of ``CocoMetric``.
        breakdown_dir (str, optional): folder for the breakdown files; ``None``
            saves nothing.
        **kwargs: keyword arguments of ``CocoMetric`` (``ann_file``, ``metric``,
            ``classwise``, ``proposal_nums``, ``iou_thrs``, ...).
    """

    def __init__(self, *args, breakdown_dir: Optional[str] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.breakdown_dir = breakdown_dir
        self.breakdown: Optional[dict] = None

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Host metrics, then the per-class breakdown (see the class docstring).

        Args:
            results (list): the processed ``(gt, pred)`` pairs.
        """
        eval_results = super().compute_metrics(results)
        if self.format_only or 'bbox' not in self.metrics:
            return eval_results
        _, preds = zip(*results)
        self.breakdown = self.compute_breakdown(preds)
        report_breakdown(self.breakdown, self.breakdown_dir)
        return eval_results

    def _detections(self, preds: Sequence[dict]) -> List[dict]:
        # The host's own conversion (xyxy -> xywh, label -> category id).
        with tempfile.TemporaryDirectory() as tmp:
            files = self.results2json(preds, osp.join(tmp, 'breakdown'))
            return load(files['bbox'])

    def _empty_results(self) -> COCO:
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = COCO()
            coco_dt.dataset = dict(images=list(self._coco_api.dataset['images']),
                                   categories=list(self._coco_api.dataset['categories']),
                                   annotations=[])
            coco_dt.createIndex()
        return coco_dt

    def compute_breakdown(self, preds: Sequence[dict]) -> dict:
        """Run COCOeval (bbox) on ``preds`` and return the breakdown dict.

        Args:
            preds (Sequence[dict]): per-image predictions as made by ``process``
                (``img_id``, ``bboxes`` xyxy, ``scores``, ``labels``).
        """
        dets = self._detections(preds)
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = self._coco_api.loadRes(dets) if dets else self._empty_results()
        eval_cls = COCOevalMP if self.use_mp_eval else COCOeval
        coco_eval = eval_cls(self._coco_api, coco_dt, 'bbox')
        coco_eval.params.catIds = list(self.cat_ids)
        coco_eval.params.imgIds = list(self.img_ids)
        coco_eval.params.maxDets = list(self.proposal_nums)
        coco_eval.params.iouThrs = self.iou_thrs
        with contextlib.redirect_stdout(io.StringIO()):
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        overall = {k: _percent_or_none(s) for k, s in zip(DET_METRICS, coco_eval.stats[:6])}

        names = [self._coco_api.loadCats(cid)[0]['name'] for cid in self.cat_ids]
        order = list(range(len(names)))
        classes = list((self.dataset_meta or {}).get('classes', ()))
        if set(names) <= set(classes):
            order.sort(key=lambda i: classes.index(names[i]))
        per_class = {}
        for i in order:
            stats = summarize_category(coco_eval, i)
            per_class[names[i]] = {k: _percent_or_none(s) for k, s in zip(DET_METRICS, stats[:6])}
        if not dets:
            MMLogger.get_current_instance().warning('no detections: every AP is 0')
        return make_breakdown('det', overall, per_class)

