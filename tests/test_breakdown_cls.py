"""AccuracyBreakdownMetric against a direct numpy computation and mmpretrain's Accuracy."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import frelu_mm  # noqa: F401  (registers the metrics)
from frelu_mm.evaluation import (AccuracyBreakdownMetric, load_breakdown, make_breakdown,
                                 to_breakdown_evaluator)

needs_mmpretrain = pytest.mark.skipif(importlib.util.find_spec('mmpretrain') is None,
                                      reason='mmpretrain is not installed')

# 'kite' has no image; 'crane' is named twice (as in ImageNet-1k)
CLASSES = ('cat', 'crane', 'dog', 'kite', 'crane', 'owl', 'fox')


def make_case(seed=0, num=60, num_classes=len(CLASSES), logits=False):
    """Scores (N, C) that are right about half the time, and labels avoiding class 3."""
    rng = np.random.RandomState(seed)
    present = [c for c in range(num_classes) if c != 3] if num_classes > 3 else list(range(num_classes))
    target = rng.choice(present, size=num)
    scores = rng.rand(num, num_classes)
    boost = rng.rand(num) < 0.5
    scores[np.arange(num)[boost], target[boost]] += 1.0
    if logits:  # some rows entirely negative: Accuracy's threshold 0 rejects them
        scores -= rng.choice([0.0, 3.0], size=(num, 1))
    else:
        scores /= scores.sum(1, keepdims=True)
    return scores.astype(np.float32), target


def numpy_reference(scores, target, thr=0.0):
    """top-1 / top-5 / per-class accuracy (%) straight from the definition."""
    order = np.argsort(-scores, axis=1, kind='stable')
    rows = np.arange(len(target))[:, None]
    above = scores[rows, order] > thr if thr is not None else np.ones_like(order, bool)
    hit = (order == target[:, None]) & above
    top1 = hit[:, 0]
    top5 = hit[:, :5].any(1) if scores.shape[1] >= 5 else None
    per_class = [100 * top1[target == c].mean() if (target == c).any() else None
                 for c in range(scores.shape[1])]
    return (100 * top1.mean(), None if top5 is None else 100 * top5.mean(), per_class)


def data_samples(scores, target):
    from mmpretrain.structures import DataSample
    return [DataSample().set_gt_label(int(t)).set_pred_score(torch.from_numpy(s))
            for s, t in zip(scores, target)]


def evaluate(metric_cfg, scores, target, classes=CLASSES, batch=16):
    """Through mmengine's Evaluator, in batches, as the test loop does."""
    from mmengine.evaluator import Evaluator
    evaluator = Evaluator(metric_cfg)
    evaluator.dataset_meta = dict(classes=classes)
    samples = data_samples(scores, target)
    for i in range(0, len(samples), batch):
        evaluator.process(samples[i:i + batch])
    return evaluator.metrics[0], evaluator.evaluate(len(samples))


@needs_mmpretrain
@pytest.mark.parametrize('logits', [False, True])
def test_against_numpy_and_host(tmp_path, logits):
    from mmpretrain.evaluation import Accuracy
    scores, target = make_case(logits=logits)
    work = str(tmp_path / 'work')
    metric, returned = evaluate(AccuracyBreakdownMetric(topk=(1, 5), breakdown_dir=work), scores, target)
    _, host = evaluate(Accuracy(topk=(1, 5)), scores, target)
    assert set(returned) == set(host) == {'accuracy/top1', 'accuracy/top5'}
    for k in host:
        assert returned[k] == host[k]

    top1, top5, per_class = numpy_reference(scores, target)
    bd = metric.breakdown
    assert bd['task'] == 'cls'
    assert bd['overall']['top1'] == pytest.approx(top1, abs=1e-9)
    assert bd['overall']['top5'] == pytest.approx(top5, abs=1e-9)
    assert bd['overall']['err1'] == pytest.approx(100 - top1, abs=1e-9)
    assert host['accuracy/top1'] == pytest.approx(top1, rel=1e-6)  # float32 in the host
    assert host['accuracy/top5'] == pytest.approx(top5, rel=1e-6)
    assert list(bd['per_class']) == ['cat', 'crane #1', 'dog', 'kite', 'crane #4', 'owl', 'fox']
    for name, ref in zip(bd['per_class'], per_class):
        got = bd['per_class'][name]['Acc']
        assert (got is None) if ref is None else got == pytest.approx(ref, abs=1e-9), name
    assert bd['per_class']['kite']['Acc'] is None
    assert 20 < top1 < 90 and top5 > top1  # the case is neither trivial nor hopeless
    if logits:  # rows below 0 count as wrong, as in Accuracy
        assert top1 < numpy_reference(scores, target, thr=None)[0]

    raw = json.load(open(os.path.join(work, 'breakdown.json')))
    assert raw['per_class']['kite'] == {'Acc': None}
    assert load_breakdown(work) == bd
    assert '| crane #4 |' in open(os.path.join(work, 'breakdown.md')).read()


@needs_mmpretrain
def test_fewer_than_five_classes():
    from mmpretrain.evaluation import Accuracy
    classes = ('a', 'b', 'c')
    scores, target = make_case(seed=1, num=25, num_classes=3)
    with pytest.raises(ValueError, match='Top-5 accuracy is unavailable'):
        evaluate(Accuracy(topk=(1, 5)), scores, target, classes)
    metric, returned = evaluate(dict(type='AccuracyBreakdownMetric', topk=(1, 5)), scores, target,
                                classes)
    top1, top5, per_class = numpy_reference(scores, target)
    assert top5 is None
    assert set(returned) == {'accuracy/top1'}
    assert returned['accuracy/top1'] == pytest.approx(top1, rel=1e-6)
    assert metric.breakdown['overall'] == {'top1': pytest.approx(top1), 'top5': None,
                                           'err1': pytest.approx(100 - top1)}
    assert [m['Acc'] for m in metric.breakdown['per_class'].values()] == pytest.approx(per_class)


@needs_mmpretrain
def test_label_predictions_and_no_meta():
    """Label-only predictions: top-1 and per-class accuracy, no top-5; without
    dataset_meta the classes are named by index."""
    metric = AccuracyBreakdownMetric(topk=(1, 5))
    target = np.array([0, 0, 1, 2, 2, 2, 4])
    pred = np.array([0, 1, 1, 2, 0, 2, 3])
    metric.process(None, [dict(pred_label=torch.tensor([p]), gt_label=torch.tensor([t]))
                          for p, t in zip(pred, target)])
    returned = metric.evaluate(len(target))
    assert returned == {'accuracy/top1': pytest.approx(100 * 4 / 7, rel=1e-6)}
    assert metric.breakdown['overall']['top5'] is None
    assert metric.breakdown['per_class'] == {
        'class 0': {'Acc': 50.0}, 'class 1': {'Acc': 100.0}, 'class 2': {'Acc': pytest.approx(200 / 3)},
        'class 3': {'Acc': None}, 'class 4': {'Acc': 0.0}}


def test_breakdown_record_checks_cls_keys():
    bd = make_breakdown('cls', dict(top1=75.0, top5=float('nan'), err1=25.0), {'a': {'Acc': 75.0}})
    assert bd['overall']['top5'] is None
    with pytest.raises(ValueError, match='lacks overall metrics'):
        make_breakdown('cls', dict(top1=75.0), {})
    with pytest.raises(ValueError, match="lacks metrics \\['Acc'\\]"):
        make_breakdown('cls', dict(top1=75.0, top5=None, err1=25.0), {'a': {'IoU': 1.0}})


@needs_mmpretrain
def test_to_breakdown_evaluator_cls(monkeypatch):
    assert to_breakdown_evaluator(dict(type='Accuracy', topk=(1, 5)), 'w') == \
        dict(type='AccuracyBreakdownMetric', topk=[1, 5], breakdown_dir='w')
    cfg = [dict(type='mmpretrain.SingleLabelMetric'),
           dict(type='Accuracy', topk=5, thrs=(0.0, 0.5), prefix='val')]
    assert to_breakdown_evaluator(cfg, None) == [cfg[0], dict(
        type='AccuracyBreakdownMetric', topk=5, thrs=[0.0, 0.5], prefix='val', breakdown_dir=None)]
    # built from the config of an mmpretrain run
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        evaluator = Evaluator(to_breakdown_evaluator(dict(type='Accuracy', topk=(1, 5)), 'w'))
    metric = evaluator.metrics[0]
    assert isinstance(metric, AccuracyBreakdownMetric) and metric.topk == (1, 5)
    assert metric.breakdown_dir == 'w' and metric.prefix == 'accuracy'
    # without mmpretrain: a clear message, both at the swap and at the build
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'mmpretrain' else find_spec(name, *a))
    with pytest.raises(ImportError, match='pip install mmpretrain==1.2.0'):
        to_breakdown_evaluator(dict(type='Accuracy'), 'w')
    monkeypatch.setitem(sys.modules, 'mmpretrain.evaluation', None)
    with pytest.raises(ImportError, match='pip install mmpretrain==1.2.0'):
        AccuracyBreakdownMetric()


def test_import_without_mmpretrain():
    """``import frelu_mm`` does not need mmpretrain (None in sys.modules blocks it)."""
    code = ("import sys; sys.modules['mmpretrain'] = None; import frelu_mm; "
            "from frelu_mm.evaluation import AccuracyBreakdownMetric; "
            "from mmengine.registry import METRICS; "
            "assert METRICS.get('AccuracyBreakdownMetric') is AccuracyBreakdownMetric")
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0, done.stderr[-3000:]
