"""An ImageNet-layout classification set drawn from the demo's two visual vocabularies.

The demo pretrains its backbones on this set before fine-tuning them on the shapes
(detection) and the street scenes (segmentation), as the paper pretrains on ImageNet.
Each image is object-centric, as in ImageNet: one of the three detection shapes on
the detection background, or one street class filling the centre of a scene drawn
by the segmentation renderer. 22 classes: ``square``, ``disc``, ``triangle`` and
the 19 Cityscapes classes. Layout (mmpretrain's ``ImageNet`` dataset reads it):
``train/<class>/*.JPEG``, ``val/*.JPEG``, ``meta/{train,val}.txt`` (``path label``
per line) and ``meta/classes.txt``.
"""
import os
import os.path as osp

import cv2
import numpy as np
from cityscapesscripts.helpers.labels import trainId2label

from .cityscapes_scenes import NUM_CLASSES, _render
from .coco_shapes import CLASSES as SHAPES
from .coco_shapes import _background, _draw

STREET = tuple(trainId2label[i].name.replace(' ', '_') for i in range(NUM_CLASSES))
CLASSES = SHAPES + STREET


def _shape_image(rng, size, label):
    img = _background(rng, size).astype(np.uint8).copy()
    side = int(size * rng.uniform(0.4, 0.85))
    w = int(np.clip(side * rng.uniform(0.8, 1.25), 8, size - 2))
    h = int(np.clip(side * rng.uniform(0.8, 1.25), 8, size - 2))
    x, y = rng.randint(0, size - w + 1), rng.randint(0, size - h + 1)
    colour = tuple(int(c) for c in rng.uniform(150, 255, size=3))
    _draw(img, SHAPES[label], (x, y, w, h), colour)
    return img


def _street_image(rng, size, street_class):
    around = rng.choice([c for c in range(NUM_CLASSES) if c != street_class])
    lab = np.full((size, size), around, np.uint8)
    w, h = (int(size * rng.uniform(0.5, 0.8)) for _ in range(2))
    cx, cy = (size // 2 + rng.randint(-size // 8, size // 8 + 1) for _ in range(2))
    if rng.rand() < 0.5:
        lab[max(cy - h // 2, 0):cy + h // 2, max(cx - w // 2, 0):cx + w // 2] = street_class
    else:
        cv2.ellipse(lab, (cx, cy), (w // 2, h // 2), 0, 0, 360, int(street_class), -1)
    return _render(rng, lab)


def make_imagenet_mini(root, num_train=30, num_val=10, size=64, seed=0):
    """Write the set under ``root`` in the ImageNet layout.

    Args:
        root (str): output folder (created).
        num_train (int): training images per class.
        num_val (int): validation images per class.
        size (int): image side in pixels.
        seed (int): the set is a pure function of its arguments.

    Returns:
        dict: ``{'train': n, 'val': n}`` images written.
    """
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    with open(osp.join(root, 'meta', 'classes.txt'), 'w') as f:
        f.write('\n'.join(CLASSES) + '\n')
    counts = {}
    for split, per_class, split_seed in (('train', num_train, seed), ('val', num_val, seed + 1)):
        rng = np.random.RandomState(split_seed)
        lines = []
        for i in range(per_class * len(CLASSES)):
            label = i % len(CLASSES)
            if label < len(SHAPES):
                img = _shape_image(rng, size, label)
            else:
                img = _street_image(rng, size, label - len(SHAPES))
            if split == 'train':
                rel = f'{CLASSES[label]}/{CLASSES[label]}_{i:05d}.JPEG'
            else:
                rel = f'DEMO_val_{i:05d}.JPEG'
            os.makedirs(osp.dirname(osp.join(root, split, rel)), exist_ok=True)
            cv2.imwrite(osp.join(root, split, rel), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            lines.append(f'{rel} {label}')
        path = osp.join(root, 'meta', f'{split}.txt')
        with open(path + '.tmp', 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.replace(path + '.tmp', path)
        counts[split] = len(lines)
    return counts
