"""Draw one prediction with the host's visualizer; put two models' pictures side by side."""
import itertools
from typing import Optional, Sequence

import cv2
import numpy as np

_names = itertools.count()  # mmengine visualizers are named instances: one name each
MIN_SIDE = 384  # smaller images are drawn enlarged, so that labels stay readable


def enlarged(image: np.ndarray, sample, scope: str):
    """``image`` and ``sample`` scaled by a whole factor until the short side reaches
    ``MIN_SIDE`` (pixels repeated, boxes scaled): the prediction itself is unchanged."""
    factor = -(-MIN_SIDE // min(image.shape[:2]))
    if factor <= 1 or scope == 'mmpretrain':  # visualize_cls resizes by itself
        return image, sample
    image = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
    sample = sample.clone()
    if scope == 'mmdet':
        sample.pred_instances.bboxes = sample.pred_instances.bboxes * factor
    else:
        from mmengine.structures import PixelData
        seg = sample.pred_sem_seg.data
        sample.pred_sem_seg = PixelData(
            data=seg.repeat_interleave(factor, -2).repeat_interleave(factor, -1))
    return image, sample


def draw_prediction(model, scope: str, image: np.ndarray, sample,
                    score_thr: float = 0.3) -> np.ndarray:
    """The RGB picture the host's own visualizer draws for ``sample`` over ``image``:
    boxes with class and score (mmdet), the colour-coded classes over the image (mmseg),
    the top class and its score (mmpretrain)."""
    # mmdet and mmseg keep the classes in model.dataset_meta, mmpretrain in _dataset_meta
    meta = getattr(model, 'dataset_meta', None) or getattr(model, '_dataset_meta', None) or {}
    image, sample = enlarged(image, sample, scope)
    name = f'frelu_mm_image_demo_{next(_names)}'
    if scope == 'mmdet':
        from mmdet.visualization import DetLocalVisualizer
        vis = DetLocalVisualizer(name=name)
        vis.dataset_meta = meta
        vis.add_datasample('prediction', image, sample, draw_gt=False, pred_score_thr=score_thr)
        return vis.get_image()
    if scope == 'mmseg':
        from mmseg.visualization import SegLocalVisualizer
        vis = SegLocalVisualizer(name=name, alpha=0.6)
        vis.dataset_meta = meta
        vis.add_datasample('prediction', image, sample, draw_gt=False, with_labels=True)
        return vis.get_image()
    from mmpretrain.visualization import UniversalVisualizer
    vis = UniversalVisualizer(name=name)
    # small images get enlarged so that the label stays readable
    resize = 256 if min(image.shape[:2]) < 256 else None
    return vis.visualize_cls(image, sample, classes=meta.get('classes'), draw_gt=False,
                             resize=resize)


def _titled(picture: np.ndarray, title: str) -> np.ndarray:
    band_h = max(18, picture.shape[0] // 14)
    band = np.full((band_h, picture.shape[1], 3), 32, np.uint8)
    scale = band_h / 30
    cv2.putText(band, title, (4, int(band_h * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), max(1, int(round(scale * 1.5))), cv2.LINE_AA)
    return np.concatenate([band, picture], axis=0)


def side_by_side(pictures: Sequence[np.ndarray], titles: Optional[Sequence[str]] = None,
                 gap: int = 6) -> np.ndarray:
    """One RGB picture of ``pictures`` in a row, each under its title."""
    titles = titles or [''] * len(pictures)
    height = max(p.shape[0] for p in pictures)
    panels = []
    for picture, title in zip(pictures, titles):
        if picture.shape[0] != height:  # same image, other resize: match heights
            width = round(picture.shape[1] * height / picture.shape[0])
            picture = cv2.resize(picture, (width, height), interpolation=cv2.INTER_NEAREST)
        panels.append(_titled(picture, title) if title else picture)
    spacer = np.full((panels[0].shape[0], gap, 3), 255, np.uint8)
    row = [panels[0]]
    for panel in panels[1:]:
        row += [spacer, panel]
    return np.concatenate(row, axis=1)
