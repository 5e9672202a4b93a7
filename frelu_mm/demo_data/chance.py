"""What chance scores on the demo sets, measured with the same definitions.

Detection: boxes of random place, size, class and score (as many per image as the
demo's ``max_per_img``), evaluated by pycocotools' COCOeval. Segmentation: a
uniformly random class at every pixel, scored by per-class IoU over the val set.
"""
import contextlib
import glob
import io
import os.path as osp

import cv2
import numpy as np


def chance_map(ann_file: str, per_image: int = 50, seed: int = 0) -> float:
    """COCO mAP (percent) of random boxes on the images of ``ann_file``.

    Args:
        ann_file (str): COCO-format annotation file.
        per_image (int): random boxes per image.
        seed (int): random seed.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    rng = np.random.RandomState(seed)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann_file)
        cat_ids = gt.getCatIds()
        dets = []
        for img in gt.dataset['images']:
            w, h = img['width'], img['height']
            for _ in range(per_image):
                bw, bh = rng.uniform(4, w), rng.uniform(4, h)
                x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
                dets.append(dict(image_id=img['id'], category_id=int(rng.choice(cat_ids)),
                                 bbox=[x, y, bw, bh], score=float(rng.rand())))
        evaluator = COCOeval(gt, gt.loadRes(dets), 'bbox')
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return 100 * float(evaluator.stats[0])


def chance_miou(gt_dir: str, num_classes: int = 19, ignore_index: int = 255,
                seed: int = 0) -> float:
    """mIoU (percent) of uniformly random labels against ``*_labelTrainIds.png`` under gt_dir.

    Classes absent from both the labels and the predictions are left out, as in
    mmseg's IoUMetric (their IoU is NaN).
    """
    rng = np.random.RandomState(seed)
    intersect = np.zeros(num_classes)
    union = np.zeros(num_classes)
    files = sorted(glob.glob(osp.join(gt_dir, '**', '*_gtFine_labelTrainIds.png'), recursive=True))
    if not files:
        raise FileNotFoundError(f'no *_gtFine_labelTrainIds.png under {gt_dir}')
    for path in files:
        gt = cv2.imread(path, cv2.IMREAD_UNCHANGED).ravel()
        gt = gt[gt != ignore_index]
        pred = rng.randint(0, num_classes, size=gt.shape)
        hit = pred[pred == gt]
        i = np.bincount(hit, minlength=num_classes)
        intersect += i
        union += np.bincount(pred, minlength=num_classes) + np.bincount(
            gt, minlength=num_classes) - i
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = intersect / union
    return 100 * float(np.nanmean(iou))
