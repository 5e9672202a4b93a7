"""The paper's numbers (Ma, Zhang, Sun, ECCV 2020), as in docs REFERENCE.md.

RetinaNet on COCO: params/FLOPs are the backbone's ImageNet model at 224 x 224.
PSPNet ResNet-50 on Cityscapes val: per-class IoU, mean IU first.
ImageNet: top-1 error, params and FLOPs of the classifier at 224 x 224.
"""
from typing import Optional

ACTIVATIONS = ('ReLU', 'Swish', 'FReLU')
IMAGENET_ACTIVATIONS = ('ReLU', 'PReLU', 'Swish', 'FReLU')
DET_COLUMNS = ('params', 'flops', 'mAP', 'AP50', 'AP75', 'APs', 'APm', 'APl')
CLS_COLUMNS = ('params', 'flops', 'top1_err')

# backbone, activation, params, FLOPs, mAP, AP50, AP75, APs, APm, APl
_RETINANET_ROWS = [
    ('ResNet-50', 'ReLU', 25.5e6, 3.86e9, 35.2, 53.7, 37.5, 18.8, 39.7, 48.8),
    ('ResNet-50', 'Swish', 25.5e6, 3.86e9, 35.8, 54.1, 38.7, 18.6, 40.0, 49.4),
    ('ResNet-50', 'FReLU', 25.5e6, 3.87e9, 36.6, 55.2, 39.0, 19.2, 40.8, 51.9),
    ('ShuffleNetV2', 'ReLU', 3.5e6, 299e6, 31.7, 49.4, 33.7, 15.3, 35.1, 45.2),
    ('ShuffleNetV2', 'Swish', 3.5e6, 299e6, 32.0, 49.9, 34.0, 16.2, 35.2, 45.2),
    ('ShuffleNetV2', 'FReLU', 3.7e6, 318e6, 32.8, 50.9, 34.8, 17.0, 36.2, 46.8),
]

# backbone, activation, params, FLOPs, top-1 err. The paper gives one params / FLOPs
# value where it writes no arrow (ResNet-50 params 25.5M; ResNet-101 FLOPs 7.6G) and
# "ReLU -> FReLU" otherwise; PReLU and Swish take the ReLU value.
_IMAGENET_ROWS = [
    ('ResNet-50', 'ReLU', 25.5e6, 3.86e9, 24.0),
    ('ResNet-50', 'PReLU', 25.5e6, 3.86e9, 23.7),
    ('ResNet-50', 'Swish', 25.5e6, 3.86e9, 23.5),
    ('ResNet-50', 'FReLU', 25.5e6, 3.87e9, 22.4),
    ('ResNet-101', 'ReLU', 44.4e6, 7.6e9, 22.8),
    ('ResNet-101', 'PReLU', 44.4e6, 7.6e9, 22.7),
    ('ResNet-101', 'Swish', 44.4e6, 7.6e9, 22.7),
    ('ResNet-101', 'FReLU', 44.5e6, 7.6e9, 22.1),
    ('MobileNet 0.75', 'ReLU', 2.5e6, 325e6, 29.8),
    ('MobileNet 0.75', 'PReLU', 2.5e6, 325e6, 29.6),
    ('MobileNet 0.75', 'Swish', 2.5e6, 325e6, 28.9),
    ('MobileNet 0.75', 'FReLU', 2.5e6, 328e6, 28.5),
    ('ShuffleNetV2', 'ReLU', 1.4e6, 41e6, 39.6),
    ('ShuffleNetV2', 'PReLU', 1.4e6, 41e6, 39.1),
    ('ShuffleNetV2', 'Swish', 1.4e6, 41e6, 38.7),
    ('ShuffleNetV2', 'FReLU', 1.4e6, 45e6, 37.1),
]

# class, ReLU, Swish, FReLU
_PSPNET_ROWS = [
    ('mean IU', 77.2, 77.5, 78.9),
    ('road', 98.0, 98.1, 98.1),
    ('sidewalk', 84.2, 85.0, 84.7),
    ('building', 92.3, 92.5, 92.7),
    ('wall', 55.0, 56.3, 59.5),
    ('fence', 59.0, 59.6, 60.9),
    ('pole', 63.3, 63.6, 64.3),
    ('traffic light', 71.4, 72.1, 72.2),
    ('traffic sign', 79.0, 80.0, 79.9),
    ('vegetation', 92.4, 92.7, 92.8),
    ('terrain', 65.0, 64.0, 64.5),
    ('sky', 94.7, 94.9, 94.8),
    ('person', 82.1, 83.1, 83.2),
    ('rider', 62.3, 65.5, 64.7),
    ('car', 95.1, 94.8, 95.3),
    ('truck', 77.7, 70.1, 79.8),
    ('bus', 84.9, 84.0, 87.8),
    ('train', 63.3, 68.8, 74.6),
    ('motorcycle', 68.3, 69.4, 69.8),
    ('bicycle', 78.2, 78.4, 78.7),
]

MEAN_IU = 'mean IU'


def paper_retinanet(backbone: str = 'ResNet-50') -> dict:
    """The paper's RetinaNet rows for one backbone.

    Args:
        backbone (str): ``'ResNet-50'`` or ``'ShuffleNetV2'``.

    Returns:
        dict: activation -> {params, flops, mAP, AP50, AP75, APs, APm, APl}.
    """
    rows = {r[1]: dict(zip(DET_COLUMNS, r[2:])) for r in _RETINANET_ROWS if r[0] == backbone}
    if not rows:
        raise KeyError(f'no paper RetinaNet rows for backbone {backbone!r}; '
                       f'known: {sorted({r[0] for r in _RETINANET_ROWS})}')
    return rows


def paper_pspnet_iou() -> dict:
    """The paper's PSPNet per-class IoU table.

    Returns:
        dict: activation -> {class: IoU}, ``'mean IU'`` first, then the 19
        Cityscapes classes in the paper's order.
    """
    return {act: {r[0]: r[1 + i] for r in _PSPNET_ROWS} for i, act in enumerate(ACTIVATIONS)}


def paper_imagenet(backbone: str = 'ResNet-50') -> dict:
    """The paper's ImageNet rows for one backbone.

    Args:
        backbone (str): ``'ResNet-50'``, ``'ResNet-101'``, ``'MobileNet 0.75'``
            or ``'ShuffleNetV2'``.

    Returns:
        dict: activation (ReLU, PReLU, Swish, FReLU) -> {params, flops, top1_err}.
    """
    rows = {r[1]: dict(zip(CLS_COLUMNS, r[2:])) for r in _IMAGENET_ROWS if r[0] == backbone}
    if not rows:
        raise KeyError(f'no paper ImageNet rows for backbone {backbone!r}; '
                       f'known: {sorted({r[0] for r in _IMAGENET_ROWS})}')
    return rows


def paper_backbones(task: Optional[str] = None) -> list:
    """Backbones with rows in the paper: ``'det'`` RetinaNet, ``'cls'`` ImageNet,
    None either.

    Args:
        task (str, optional): ``'det'``, ``'cls'`` or None.
    """
    rows = {'det': _RETINANET_ROWS, 'cls': _IMAGENET_ROWS}
    if task is not None and task not in rows:
        raise KeyError(f"the paper's tables by backbone are 'det' and 'cls', not {task!r}")
    return sorted({r[0] for t, rs in rows.items() if task in (None, t) for r in rs})
