"""IoUBreakdownMetric against cityscapesscripts' pixel-level evaluation."""
import contextlib
import copy
import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import frelu_mm  # noqa: F401  (registers the metrics)
from frelu_mm.evaluation import IoUBreakdownMetric, load_breakdown, to_breakdown_evaluator

H, W = 48, 96
FRAMES = ['aachen_000000_000019', 'aachen_000001_000019', 'bochum_000000_000313']


def _cs():
    from cityscapesscripts.helpers import labels as cs_labels
    return cs_labels


def _blocks(rng, values, h=H, w=W, cell=8):
    """A label map of random cell x cell blocks drawn from ``values``."""
    grid = rng.choice(values, size=(h // cell, w // cell))
    return np.kron(grid, np.ones((cell, cell), dtype=grid.dtype)).astype(np.uint8)


def make_cityscapes(root, seed=0):
    """Write a tiny Cityscapes-format val split; return {frame: pred trainIds}.

    Ground truth uses labelIds of evaluated classes and of ignored ones
    (unlabeled, static, parking, ...), written as ``*_gtFine_labelIds.png`` (for
    cityscapesscripts) and ``*_gtFine_labelTrainIds.png`` (for mmseg, via
    cityscapesscripts' id -> trainId map). Predictions are noisy trainIds.
    'train' (16) appears nowhere (IoU undefined), 'bus' (15) only in predictions.
    """
    cs = _cs()
    rng = np.random.RandomState(seed)
    gt_ids = [l.id for l in cs.labels if l.id >= 0 and l.trainId not in (15, 16)]
    id_to_train = np.full(256, 255, np.uint8)
    for l in cs.labels:
        if l.id >= 0 and 0 <= l.trainId < 255:
            id_to_train[l.id] = l.trainId
    preds = {}
    for frame in FRAMES:
        city = frame.split('_')[0]
        img_dir = os.path.join(root, 'leftImg8bit', 'val', city)
        gt_dir = os.path.join(root, 'gtFine', 'val', city)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(gt_dir, exist_ok=True)
        Image.fromarray(rng.randint(0, 255, (H, W, 3), np.uint8)).save(
            os.path.join(img_dir, f'{frame}_leftImg8bit.png'))
        label_ids = _blocks(rng, gt_ids, cell=8)
        train_ids = id_to_train[label_ids]
        Image.fromarray(label_ids).save(os.path.join(gt_dir, f'{frame}_gtFine_labelIds.png'))
        Image.fromarray(train_ids).save(os.path.join(gt_dir, f'{frame}_gtFine_labelTrainIds.png'))
        pred = train_ids.copy()
        noise = _blocks(rng, [c for c in range(19) if c != 16], cell=4)
        flip = _blocks(rng, [0, 0, 1], cell=4).astype(bool) | (train_ids == 255)
        pred[flip] = noise[flip]
        preds[frame] = pred
    return preds


def official_eval(root, preds, tmp):
    """cityscapesscripts' evaluateImgLists on labelIds images."""
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_eval
    cs = _cs()
    train_to_id = {l.trainId: l.id for l in cs.labels if 0 <= l.trainId < 255}
    pred_files, gt_files = [], []
    os.makedirs(os.path.join(tmp, 'results'), exist_ok=True)
    for frame, pred in preds.items():
        city = frame.split('_')[0]
        path = os.path.join(tmp, 'results', f'{frame}_pred_labelIds.png')
        Image.fromarray(np.vectorize(train_to_id.get)(pred).astype(np.uint8)).save(path)
        pred_files.append(path)
        gt_files.append(os.path.join(root, 'gtFine', 'val', city, f'{frame}_gtFine_labelIds.png'))
    args = copy.copy(cs_eval.args)  # the module keeps its options in a global
    args.quiet = True
    args.JSONOutput = False  # write nothing
    args.evalInstLevelScore = False  # no instanceIds images here
    args.evalPixelAccuracy = False
    args.exportFile = os.path.join(tmp, 'cs_result.json')
    with contextlib.redirect_stdout(io.StringIO()):
        res = cs_eval.evaluateImgLists(pred_files, gt_files, args)
    return res


def run_metric(root, preds, breakdown_dir):
    from mmseg.datasets import CityscapesDataset
    from mmseg.datasets.transforms import LoadAnnotations
    ds = CityscapesDataset(data_root=root, data_prefix=dict(img_path='leftImg8bit/val',
                                                            seg_map_path='gtFine/val'),
                           pipeline=[LoadAnnotations()])
    assert len(ds) == len(FRAMES)
    metric = IoUBreakdownMetric(breakdown_dir=breakdown_dir)
    metric.dataset_meta = ds.metainfo
    for i in range(len(ds)):
        item = ds[i]
        assert item['seg_map_path'].endswith('_gtFine_labelTrainIds.png')
        frame = os.path.basename(item['img_path'])[:-len('_leftImg8bit.png')]
        sample = dict(pred_sem_seg=dict(data=torch.from_numpy(preds[frame]).long()[None]),
                      gt_sem_seg=dict(data=torch.from_numpy(item['gt_seg_map']).long()[None]))
        metric.process({}, [sample])
    return metric, metric.evaluate(len(ds))


@pytest.fixture(scope='module')
def seg_case(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp('seg'))
    mp = pytest.MonkeyPatch()
    # cityscapesscripts reads these to find data / place results; keep it in tmp.
    mp.setenv('CITYSCAPES_DATASET', os.path.join(tmp, 'cityscapes'))
    mp.setenv('CITYSCAPES_RESULTS', os.path.join(tmp, 'results'))
    root = os.path.join(tmp, 'cityscapes')
    preds = make_cityscapes(root)
    official = official_eval(root, preds, tmp)
    metric, returned = run_metric(root, preds, os.path.join(tmp, 'work'))
    mp.undo()
    return official, metric, returned, tmp


def _close(ours, official):
    if np.isnan(official):
        return ours is None
    return ours is not None and abs(ours - 100 * official) < 1e-9


def test_iou_equals_cityscapesscripts(seg_case):
    official, metric, returned, _ = seg_case
    bd = metric.breakdown
    names = [l.name for l in sorted((l for l in _cs().labels if 0 <= l.trainId < 255),
                                    key=lambda l: l.trainId)]
    assert list(bd['per_class']) == names  # the paper's order
    for name in names:
        assert _close(bd['per_class'][name]['IoU'], official['classScores'][name]), name
    assert _close(bd['overall']['mIoU'], official['averageScoreClasses'])
    # the case covers undefined, zero and partial IoU
    assert bd['per_class']['train']['IoU'] is None
    assert bd['per_class']['bus']['IoU'] == 0.0 and bd['per_class']['bus']['Acc'] is None
    assert 20 < bd['overall']['mIoU'] < 90
    assert returned['mIoU'] == round(bd['overall']['mIoU'], 2)


def test_acc_equals_cityscapesscripts_confusion_matrix(seg_case):
    """Acc = TP / ground-truth pixels; aAcc over all evaluated ground-truth pixels,
    both from the official evaluator's confusion matrix (rows: gt labelIds)."""
    official, metric, _, _ = seg_case
    conf = np.asarray(official['confMatrix'], dtype=np.float64)
    evaluated = [l for l in _cs().labels if 0 <= l.trainId < 255]
    accs = []
    for l in evaluated:
        row = conf[l.id].sum()
        acc = conf[l.id, l.id] / row if row else float('nan')
        accs.append(acc)
        assert _close(metric.breakdown['per_class'][l.name]['Acc'], acc), l.name
    ids = [l.id for l in evaluated]
    a_acc = conf[ids, ids].sum() / conf[ids].sum()
    assert _close(metric.breakdown['overall']['aAcc'], a_acc)
    assert _close(metric.breakdown['overall']['mAcc'], np.nanmean(accs))


def test_seg_files(seg_case):
    _, metric, _, tmp = seg_case
    work = os.path.join(tmp, 'work')
    raw = json.load(open(os.path.join(work, 'breakdown.json')))
    assert raw['task'] == 'seg' and set(raw['overall']) == {'mIoU', 'mAcc', 'aAcc'}
    assert raw['per_class']['train'] == {'IoU': None, 'Acc': None}
    assert load_breakdown(os.path.join(work, 'breakdown.json')) == metric.breakdown
    assert '| traffic light |' in open(os.path.join(work, 'breakdown.md')).read()


def test_float64_sums_are_exact():
    """Counts above 2**24 lose precision in float32 (the host's sum)."""
    metric = IoUBreakdownMetric()
    metric.dataset_meta = dict(classes=('a', 'b'))
    per_image = torch.tensor([2**24 + 1, 3], dtype=torch.float64)  # intersect of a, b
    # (intersect, union, pred, label) of 4 images; the ground truth has 1 more pixel
    results = [(per_image, per_image + 1, per_image, per_image + 1) for _ in range(4)]
    bd = metric.compute_breakdown(results)
    exact_a = 4 * (2**24 + 1) / (4 * (2**24 + 2))
    assert bd['per_class']['a']['IoU'] == pytest.approx(100 * exact_a, abs=0, rel=1e-15)
    assert bd['per_class']['b']['IoU'] == pytest.approx(100 * 12 / 16, rel=1e-15)


def test_to_breakdown_evaluator_seg():
    assert to_breakdown_evaluator(dict(type='IoUMetric', iou_metrics=['mIoU', 'mDice']), 'w') == \
        dict(type='IoUBreakdownMetric', iou_metrics=['mIoU', 'mDice'], breakdown_dir='w')
    cs = dict(type='CityscapesMetric', output_dir='o', ignore_index=255, keep_results=True)
    assert to_breakdown_evaluator(cs, 'w') == dict(
        type='IoUBreakdownMetric', ignore_index=255, iou_metrics=['mIoU'], breakdown_dir='w')
    cs_submit = dict(type='CityscapesMetric', output_dir='o', format_only=True)
    assert to_breakdown_evaluator(cs_submit, 'w') == cs_submit
