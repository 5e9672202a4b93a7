"""A Cityscapes-format segmentation set of synthetic street-like scenes.

Every image has sky, buildings, road and sidewalk bands plus blobs of the other
classes; each class has its Cityscapes palette colour, a texture and noise, so a
segmentor can learn to label regions. Files follow the Cityscapes layout:
``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` and
``gtFine/{split}/{city}/*_gtFine_labelTrainIds.png`` (+ ``*_gtFine_labelIds.png``).
"""
import os
import os.path as osp

import cv2
import numpy as np
from cityscapesscripts.helpers.labels import trainId2label

NUM_CLASSES = 19
IGNORE = 255


def _label_map(rng, h, w):
    lab = np.full((h, w), IGNORE, np.uint8)
    horizon = int(h * rng.uniform(0.3, 0.45))
    ground = int(h * rng.uniform(0.6, 0.75))
    lab[:horizon] = 10  # sky
    lab[horizon:ground] = 2  # building
    lab[ground:] = 0  # road
    curb = int(w * rng.uniform(0.15, 0.3))
    lab[ground:, :curb] = 1  # sidewalk
    others = [c for c in range(NUM_CLASSES) if c not in (0, 1, 2, 10)]
    for c in rng.permutation(others)[:rng.randint(5, 10)]:
        bw, bh = rng.randint(w // 12, w // 4), rng.randint(h // 8, h // 3)
        x, y = rng.randint(0, w - bw), rng.randint(horizon // 2, h - bh)
        if rng.rand() < 0.5:
            lab[y:y + bh, x:x + bw] = c
        else:
            cv2.ellipse(lab, (x + bw // 2, y + bh // 2), (bw // 2, bh // 2), 0, 0, 360, int(c), -1)
    # a thin unlabeled border, as Cityscapes has around its ego-vehicle/out-of-roi
    lab[-2:] = IGNORE
    return lab


def _render(rng, lab):
    h, w = lab.shape
    img = np.zeros((h, w, 3), np.float32)
    for c in np.unique(lab):
        colour = (0, 0, 0) if c == IGNORE else trainId2label[int(c)].color
        mask = lab == c
        stripes = 12 * np.sin(np.arange(w)[None, :] * (0.2 + 0.05 * (c % 7)))
        img[mask] = np.array(colour[::-1], np.float32)  # RGB palette -> BGR image
        img[..., :][mask] += np.broadcast_to(stripes, (h, w))[mask][:, None]
    img += rng.normal(0, 20, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_cityscapes_scenes(root, num_train=60, num_val=20, size=(128, 256), seed=0):
    """Write the scenes under ``root`` in the Cityscapes layout.

    Args:
        root (str): output folder (created).
        num_train (int): training images.
        num_val (int): validation images.
        size (tuple): (height, width), Cityscapes' 1:2 aspect by default.
        seed (int): the set is a pure function of its arguments.

    Returns:
        list[str]: the written ``*_gtFine_labelTrainIds.png`` files.
    """
    train_to_label = np.full(256, 0, np.uint8)
    for train_id, label in trainId2label.items():
        if 0 <= train_id < NUM_CLASSES:
            train_to_label[train_id] = label.id
    written = []
    for split, count, split_seed, city in (('train', num_train, seed, 'demotown'),
                                          ('val', num_val, seed + 1, 'demoville')):
        rng = np.random.RandomState(split_seed)
        img_dir = osp.join(root, 'leftImg8bit', split, city)
        gt_dir = osp.join(root, 'gtFine', split, city)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(gt_dir, exist_ok=True)
        for i in range(count):
            stem = f'{city}_000000_{i:06d}'
            lab = _label_map(rng, *size)
            cv2.imwrite(osp.join(img_dir, f'{stem}_leftImg8bit.png'), _render(rng, lab))
            cv2.imwrite(osp.join(gt_dir, f'{stem}_gtFine_labelIds.png'), train_to_label[lab])
            path = osp.join(gt_dir, f'{stem}_gtFine_labelTrainIds.png')
            cv2.imwrite(path, lab)
            written.append(path)
    return written
