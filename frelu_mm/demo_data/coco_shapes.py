"""A COCO-format detection set of coloured shapes on a textured background.

The class is the shape (square, disc, triangle), not the colour, so a detector has
to learn shape; sizes span COCO's small, medium and large areas.
"""
import json
import os
import os.path as osp

import cv2
import numpy as np

CLASSES = ('square', 'disc', 'triangle')


def _background(rng, size):
    base = rng.uniform(40, 120, size=3)
    noise = rng.normal(0, 18, size=(size, size, 3))
    gradient = np.linspace(-20, 20, size)[None, :, None]
    return np.clip(base + noise + gradient, 0, 255)


def _draw(img, shape, box, colour):
    x, y, w, h = box
    if shape == 'square':
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), colour, thickness=-1)
    elif shape == 'disc':
        cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, colour, -1)
    else:
        pts = np.array([[x + w // 2, y], [x, y + h - 1], [x + w - 1, y + h - 1]], np.int32)
        cv2.fillPoly(img, [pts], colour)


def _image(rng, size, max_objects):
    img = _background(rng, size).astype(np.uint8).copy()
    anns, placed = [], []
    for _ in range(rng.randint(1, max_objects + 1)):
        side = int(np.exp(rng.uniform(np.log(10), np.log(size * 0.8))))
        w = int(np.clip(side * rng.uniform(0.8, 1.25), 8, size - 2))
        h = int(np.clip(side * rng.uniform(0.8, 1.25), 8, size - 2))
        x, y = rng.randint(0, size - w + 1), rng.randint(0, size - h + 1)
        # avoid heavy overlaps so every box is visible
        if any(_iou((x, y, w, h), p) > 0.1 for p in placed):
            continue
        label = rng.randint(len(CLASSES))
        colour = tuple(int(c) for c in rng.uniform(150, 255, size=3))
        _draw(img, CLASSES[label], (x, y, w, h), colour)
        placed.append((x, y, w, h))
        anns.append(dict(bbox=[x, y, w, h], category_id=label + 1, area=float(w * h)))
    return img, anns


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter)


def make_coco_shapes(root, num_train=160, num_val=40, size=128, max_objects=4, seed=0):
    """Write ``root/{train,val}/*.png`` and ``root/annotations/instances_{train,val}.json``.

    Args:
        root (str): output folder (created).
        num_train (int): training images.
        num_val (int): validation images.
        size (int): image side in pixels.
        max_objects (int): most objects per image.
        seed (int): the set is a pure function of its arguments.

    Returns:
        dict: paths of the two annotation files.
    """
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=n, supercategory='shape') for i, n in enumerate(CLASSES)]
    out = {}
    for split, count, split_seed in (('train', num_train, seed), ('val', num_val, seed + 1)):
        rng = np.random.RandomState(split_seed)
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            img, anns = _image(rng, size, max_objects)
            name = f'{split}_{i:04d}.png'
            cv2.imwrite(osp.join(root, split, name), img)
            images.append(dict(id=i + 1, file_name=name, width=size, height=size))
            for a in anns:
                annotations.append(dict(a, id=len(annotations) + 1, image_id=i + 1, iscrowd=0))
        path = osp.join(root, 'annotations', f'instances_{split}.json')
        with open(path + '.tmp', 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
        os.replace(path + '.tmp', path)
        out[split] = path
    return out
