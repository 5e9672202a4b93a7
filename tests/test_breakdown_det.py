"""CocoBreakdownMetric against pycocotools' COCOeval run per class."""
import json

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import frelu_mm  # noqa: F401  (registers the metrics)
from frelu_mm.evaluation import (DET_METRICS, CocoBreakdownMetric, load_breakdown,
                                 to_breakdown_evaluator)

# non-contiguous ids; 'kite' has predictions but no ground truth
CATEGORIES = [dict(id=3, name='car'), dict(id=7, name='person'), dict(id=11, name='kite')]
CLASSES = tuple(c['name'] for c in CATEGORIES)


def _box(rng, w, h, side):
    bw = side * rng.uniform(0.7, 1.3)
    bh = side * side / bw
    x = rng.uniform(0, w - bw)
    y = rng.uniform(0, h - bh)
    return [x, y, bw, bh]


def make_data(seed=0):
    """Ground truth (COCO dict) and per-image predictions (xyxy, scores, labels)."""
    rng = np.random.RandomState(seed)
    images, anns, preds = [], [], []
    for img_id in (1, 2, 4, 9, 10):
        w, h = int(rng.randint(300, 500)), int(rng.randint(300, 500))
        images.append(dict(id=img_id, width=w, height=h, file_name=f'{img_id}.jpg'))
        boxes, labels, scores = [], [], []
        for _ in range(rng.randint(3, 8)):
            label = int(rng.randint(0, 2))  # car or person
            side = float(rng.choice([20, 50, 80, 150]))  # small, medium, large
            b = _box(rng, w, h, side)
            crowd = int(rng.rand() < 0.08)
            anns.append(dict(id=len(anns) + 1, image_id=img_id, category_id=CATEGORIES[label]['id'],
                             bbox=b, area=b[2] * b[3], iscrowd=crowd))
            if rng.rand() < 0.8:  # detected, jittered, sometimes with the wrong class
                j = np.asarray(b) + rng.normal(0, 0.08 * side, 4)
                x1, y1 = j[0], j[1]
                x2, y2 = x1 + max(j[2], 2), y1 + max(j[3], 2)
                boxes.append([x1, y1, x2, y2])
                labels.append(label if rng.rand() < 0.85 else 1 - label)
                scores.append(rng.uniform(0.3, 1.0))
        for _ in range(rng.randint(1, 5)):  # false positives, kite among them
            b = _box(rng, w, h, float(rng.choice([25, 60, 120])))
            boxes.append([b[0], b[1], b[0] + b[2], b[1] + b[3]])
            labels.append(int(rng.randint(0, 3)))
            scores.append(rng.uniform(0.0, 0.7))
        preds.append(dict(img_id=img_id, ori_shape=(h, w), bboxes=np.asarray(boxes, np.float32),
                          scores=np.asarray(scores, np.float32), labels=np.asarray(labels)))
    gt = dict(images=images, annotations=anns, categories=CATEGORIES)
    return gt, preds


def official_stats(gt_path, preds, cat_ids=None):
    """pycocotools, default parameters: stats[:6] for the given categories."""
    results = []
    for p in preds:
        for (x1, y1, x2, y2), s, l in zip(p['bboxes'].tolist(), p['scores'].tolist(), p['labels']):
            results.append(dict(image_id=p['img_id'], category_id=CATEGORIES[int(l)]['id'],
                                bbox=[x1, y1, x2 - x1, y2 - y1], score=s))
    gt = COCO(gt_path)
    ev = COCOeval(gt, gt.loadRes(results), 'bbox')
    if cat_ids is not None:
        ev.params.catIds = cat_ids
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev.stats[:6]


def run_metric(gt_path, preds, breakdown_dir, **kwargs):
    metric = CocoBreakdownMetric(ann_file=gt_path, breakdown_dir=breakdown_dir, **kwargs)
    metric.dataset_meta = dict(classes=CLASSES)
    samples = [dict(img_id=p['img_id'], ori_shape=p['ori_shape'],
                    pred_instances=dict(bboxes=torch.from_numpy(p['bboxes']),
                                        scores=torch.from_numpy(p['scores']),
                                        labels=torch.from_numpy(p['labels'])))
               for p in preds]
    metric.process({}, samples[:2])
    metric.process({}, samples[2:])
    return metric, metric.evaluate(len(samples))


def _same(ours, official):
    """ours: percent or None; official: fraction or -1."""
    if official < 0:
        return ours is None
    return ours is not None and abs(ours - 100 * official) < 1e-9


@pytest.fixture(scope='module')
def det_case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('det')
    gt, preds = make_data()
    gt_path = str(tmp / 'gt.json')
    with open(gt_path, 'w') as f:
        json.dump(gt, f)
    metric, returned = run_metric(gt_path, preds, str(tmp / 'work'))
    return gt_path, preds, metric, returned, tmp


def test_per_class_equals_cocoeval_per_class(det_case):
    gt_path, preds, metric, _, _ = det_case
    bd = metric.breakdown
    assert list(bd['per_class']) == list(CLASSES)
    for cat in CATEGORIES:
        official = official_stats(gt_path, preds, [cat['id']])
        ours = bd['per_class'][cat['name']]
        for key, stat in zip(DET_METRICS, official):
            assert _same(ours[key], stat), (cat['name'], key, ours[key], stat)
    # the data exercise the interesting cases
    car, person, kite = (bd['per_class'][c] for c in CLASSES)
    assert all(v is None for v in kite.values())  # no ground truth
    assert 0 < car['mAP'] < 100 and 0 < person['mAP'] < 100 and car['mAP'] != person['mAP']


def test_overall_equals_cocoeval_and_host(det_case):
    gt_path, preds, metric, returned, _ = det_case
    official = official_stats(gt_path, preds)
    for key, stat in zip(DET_METRICS, official):
        assert _same(metric.breakdown['overall'][key], stat), key
    # the host's own numbers are unchanged and agree
    assert returned['coco/bbox_mAP'] == round(official[0], 3)
    assert returned['coco/bbox_mAP_50'] == round(official[1], 3)


def test_breakdown_files(det_case):
    _, _, metric, _, tmp = det_case
    work = tmp / 'work'
    assert sorted(p.name for p in work.iterdir()) == ['breakdown.csv', 'breakdown.json', 'breakdown.md']
    raw = json.loads((work / 'breakdown.json').read_text())
    assert set(raw) == {'task', 'overall', 'per_class'} and raw['task'] == 'det'
    assert load_breakdown(str(work)) == metric.breakdown
    csv_text = (work / 'breakdown.csv').read_text().splitlines()
    assert csv_text[0] == 'scope,class,metric,value'
    assert len(csv_text) == 1 + 6 + 6 * len(CLASSES)
    md = (work / 'breakdown.md').read_text()
    assert '| person ' in md and 'APm' in md


def test_ann_file_none_uses_data_sample_instances(tmp_path):
    """Without ann_file mmdet converts the ground truth itself; same numbers."""
    gt, preds = make_data(seed=1)
    gt_path = str(tmp_path / 'gt.json')
    with open(gt_path, 'w') as f:
        json.dump(gt, f)
    metric = CocoBreakdownMetric(ann_file=None)
    metric.dataset_meta = dict(classes=CLASSES)
    by_img = {}
    for a in gt['annotations']:
        x, y, w, h = a['bbox']
        label = [c['id'] for c in CATEGORIES].index(a['category_id'])
        by_img.setdefault(a['image_id'], []).append(
            dict(bbox=[x, y, x + w, y + h], bbox_label=label, ignore_flag=a['iscrowd']))
    samples = [dict(img_id=p['img_id'], ori_shape=p['ori_shape'], instances=by_img.get(p['img_id'], []),
                    pred_instances=dict(bboxes=torch.from_numpy(p['bboxes']),
                                        scores=torch.from_numpy(p['scores']),
                                        labels=torch.from_numpy(p['labels'])))
               for p in preds]
    metric.process({}, samples)
    metric.evaluate(len(samples))
    official = official_stats(gt_path, preds, [CATEGORIES[1]['id']])
    for key, stat in zip(DET_METRICS, official):
        assert _same(metric.breakdown['per_class']['person'][key], stat), key


def test_to_breakdown_evaluator_coco():
    host = dict(type='CocoMetric', ann_file='a.json', metric='bbox', format_only=False,
                backend_args=None)
    new = to_breakdown_evaluator(host, '/w')
    assert new == dict(type='CocoBreakdownMetric', ann_file='a.json', metric='bbox',
                       format_only=False, backend_args=None, breakdown_dir='/w')
    assert host['type'] == 'CocoMetric'  # not modified in place
    # proposal-only or format-only evaluators are left alone
    proposals = dict(type='CocoMetric', metric='proposal_fast')
    assert to_breakdown_evaluator(proposals, '/w')['type'] == 'CocoMetric'
    assert to_breakdown_evaluator(dict(type='CocoMetric', format_only=True), '/w')['type'] == 'CocoMetric'
    # list and Evaluator wrappers
    lst = to_breakdown_evaluator([dict(type='mmdet.CocoMetric', metric=['bbox', 'segm'])], None)
    assert lst[0]['type'] == 'CocoBreakdownMetric' and lst[0]['metric'] == ['bbox', 'segm']
    ev = to_breakdown_evaluator(dict(type='Evaluator', metrics=dict(type='CocoMetric')), 'd')
    assert ev['metrics'] == dict(type='CocoBreakdownMetric', breakdown_dir='d')


def test_builds_from_registry_in_mmdet_scope(tmp_path):
    from mmengine.registry import METRICS, DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        m = METRICS.build(to_breakdown_evaluator(dict(type='CocoMetric'), str(tmp_path)))
    assert isinstance(m, CocoBreakdownMetric) and m.breakdown_dir == str(tmp_path)
