"""A pipeline step that stops on segmentation labels outside the classes."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Raise on label values that are neither a class index nor ``ignore_index``.

    Without it, such a value reaches the loss and fails there with an index error that
    names neither the file nor the fix. The tools insert it after ``LoadAnnotations``.

    Args:
        num_classes (int): valid labels are ``0 .. num_classes - 1``.
        ignore_index (int): the label of unlabeled pixels. Default 255.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        seg = results.get('gt_seg_map')
        if seg is not None:
            bad = np.unique(seg[(seg >= self.num_classes) & (seg != self.ignore_index)])
            if bad.size:
                raise ValueError(
                    f"{results.get('seg_map_path')}: label values {bad[:10].tolist()} are "
                    f'outside the {self.num_classes} classes (0..{self.num_classes - 1}, '
                    f'{self.ignore_index} = ignore). For Cityscapes use the '
                    f'*_gtFine_labelTrainIds.png maps (cityscapesscripts '
                    f'csCreateTrainIdLabelImgs), not *_labelIds.png.')
        return results


def insert_label_check(cfg) -> None:
    """Put :class:`CheckSegLabels` after ``LoadAnnotations`` in every seg pipeline of cfg."""
    head = cfg.model.get('decode_head')
    if isinstance(head, list):
        head = head[-1]
    if head is None:
        return
    step = dict(type='CheckSegLabels', num_classes=head['num_classes'],
                ignore_index=head.get('ignore_index', 255))
    for split in ('train', 'val', 'test'):
        dataset = (cfg.get(f'{split}_dataloader') or {}).get('dataset')
        pipeline = dataset.get('pipeline') if dataset else None
        if not pipeline:
            continue
        for i, t in enumerate(pipeline):
            if t.get('type') == 'LoadAnnotations':
                pipeline.insert(i + 1, step)
                break
