"""The demo's results in the paper's three table layouts, the paper's numbers beside them.

ImageNet: top-1 error per activation. RetinaNet: mAP, AP50, AP75, APs, APm, APl per
activation. PSPNet: IoU per Cityscapes class (the demo scenes use the same 19 classes),
mean IU first. Ours are mean ± std over seeds on the demo sets; the paper's are single
runs on ImageNet, COCO and Cityscapes: the layouts match, the scales do not.
"""
from typing import Dict, Optional

from ..reporting.paper_tables import (MEAN_IU, paper_imagenet, paper_pspnet_iou,
                                      paper_retinanet)
from .summary import pm, arms_of

DET_METRICS = ('mAP', 'AP50', 'AP75', 'APs', 'APm', 'APl')
ACT_NAMES = {'relu': 'ReLU', 'frelu': 'FReLU'}


def _label(labels: Dict[str, str], arm: str) -> str:
    return labels.get(arm, arm)


def imagenet_table(entry: Dict) -> str:
    paper = paper_imagenet('ResNet-50')
    rows = ['| model | activation | top-1 err (%) |', '|---|---|---|']
    for act in arms_of(entry):
        err = dict(mean=None if entry[act]['mean'] is None else 100 - entry[act]['mean'],
                   std=entry[act]['std'])
        rows.append(f'| demo ResNetV1c-50 /8, demo set | {ACT_NAMES.get(act, act)} | {pm(err)} |')
    for act in ('ReLU', 'Swish', 'FReLU'):
        rows.append(f'| paper ResNet-50, ImageNet | {act} | {paper[act]["top1_err"]:.1f} |')
    return '**ImageNet table** (top-1 error)\n\n' + '\n'.join(rows) + '\n'


def retinanet_table(entry: Dict, labels: Dict[str, str]) -> str:
    paper = paper_retinanet('ResNet-50')
    rows = ['| backbone | start | ' + ' | '.join(DET_METRICS) + ' |',
            '|---|---|' + '---|' * len(DET_METRICS)]
    for arm in arms_of(entry):
        rows.append(f'| demo ResNet-50 /8 | {_label(labels, arm)} | '
                    + ' | '.join(pm(entry[arm]['overall'][m]) for m in DET_METRICS) + ' |')
    for act in ('ReLU', 'Swish', 'FReLU'):
        rows.append(f'| paper ResNet-50, COCO | {act} | '
                    + ' | '.join(f'{paper[act][m]:.1f}' for m in DET_METRICS) + ' |')
    return '**RetinaNet table** (COCO metrics, %)\n\n' + '\n'.join(rows) + '\n'


def pspnet_table(entry: Dict, labels: Dict[str, str]) -> str:
    paper = paper_pspnet_iou()
    arms = arms_of(entry)
    rows = ['| class | ' + ' | '.join(f'ours: {_label(labels, a)}' for a in arms)
            + ' | paper ReLU | paper Swish | paper FReLU |',
            '|---|' + '---|' * (len(arms) + 3)]
    for cls in paper['ReLU']:
        ours = [pm(entry[a]['overall']['mIoU']) if cls == MEAN_IU else
                pm(entry[a]['per_class'][cls]['IoU']) if cls in entry[a]['per_class'] else '-'
                for a in arms]
        rows.append(f'| {cls} | ' + ' | '.join(ours) + ' | '
                    + ' | '.join(f'{paper[act][cls]:.1f}' for act in ('ReLU', 'Swish', 'FReLU'))
                    + ' |')
    return '**PSPNet table** (Cityscapes classes, IoU %)\n\n' + '\n'.join(rows) + '\n'


def paper_layout(summary: Dict, labels: Optional[Dict[str, str]] = None) -> str:
    """Markdown of the three tables for the tasks ``summary`` has."""
    labels = labels or {}
    parts = []
    runs = summary['runs']
    if 'cls' in runs:
        parts.append(imagenet_table(runs['cls']))
    if 'det' in runs:
        parts.append(retinanet_table(runs['det'], labels))
    if 'seg' in runs:
        parts.append(pspnet_table(runs['seg'], labels))
    return '\n'.join(parts)
