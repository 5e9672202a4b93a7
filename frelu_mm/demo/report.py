"""Print and save the demo's outcome: tables, plain verdicts, chance, ``summary.json``."""
import os.path as osp
from typing import Dict, Sequence

from ..evaluation.atomic import atomic_write
from .paper_layout import paper_layout
from .plan import arm_labels
from .summary import overall_table, per_class_table, save_summary, summarize, verdict


def chance_scores(data_root: str, tasks=None) -> Dict[str, float]:
    """What chance scores on the demo's val sets, with the same evaluators."""
    from ..demo_data.chance import chance_map, chance_miou
    from ..demo_data.imagenet_mini import CLASSES
    ann = osp.join(data_root, 'coco_shapes', 'annotations', 'instances_val.json')
    seg = osp.join(data_root, 'cityscapes', 'gtFine', 'val')
    return dict(cls=100.0 / len(CLASSES),
                det=chance_map(ann) if tasks is None or 'det' in tasks else None,
                seg=chance_miou(seg) if tasks is None or 'seg' in tasks else None)


def report(done: Dict, seeds: Sequence[int], out: str, data_root: str, study: bool,
           seconds: float) -> dict:
    """Write ``summary.json`` and ``tables.md`` into ``out`` and print the tables."""
    summary = summarize(done, seeds)
    chance = chance_scores(data_root, summary['runs'])
    summary.update(seconds=round(seconds, 1), chance=chance)
    save_summary(summary, osp.join(out, 'summary.json'))
    labels = arm_labels()
    if not study:
        labels.update(relu='ReLU', frelu='FReLU')
    # pretraining rows are activations, not fine-tune arms
    task_labels = {task: {'relu': 'ReLU', 'frelu': 'FReLU'} if task == 'cls' else labels
                   for task in summary['runs']}
    parts = [f'# Demo: pretrain, then fine-tune ({len(seeds)} seeds)\n',
             f'Finished in {seconds / 60:.1f} min.\n']
    lines = []
    for task in ('cls', 'det', 'seg'):
        entry = summary['runs'].get(task)
        if entry is None:
            continue
        parts.append(overall_table(task, entry, task_labels[task], chance.get(task)))
        line = verdict(entry)
        if line:
            lines.append(f'- {task}: {line}')
    parts.append('## Verdicts\n\n' + '\n'.join(lines) + '\n')
    text = '\n'.join(parts)
    print('\n' + text)
    details = [per_class_table(task, summary['runs'][task], task_labels[task])
               for task in ('cls', 'det', 'seg') if task in summary['runs']]
    atomic_write(osp.join(out, 'tables.md'),
                 text + '\n## Per class\n\n' + '\n'.join(details)
                 + '\n## In the paper\'s layout, beside the paper\n\n' + paper_layout(summary, labels))
    return summary


FUNNEL_IMAGES = {'det': 'coco_shapes/val/val_0000.png',
                 'seg': 'cityscapes/leftImg8bit/val/demoville/demoville_000000_000000_leftImg8bit.png'}


def funnel_pictures(done: Dict, out: str, data_root: str) -> list:
    """The funnel of each fine-tuned FReLU model (seed 0) next to its ReLU twin's clipping,
    on one demo val image per task (``tools/funnel_analysis.py``): ``<out>/funnel_<task>/``."""
    from ..funnel.analysis import funnel_analysis
    written = []
    for task, image in FUNNEL_IMAGES.items():
        frelu, relu = done.get(f'{task}_frelu_s0'), done.get(f'{task}_relu_s0')
        if frelu is None or relu is None:
            continue
        result = funnel_analysis(frelu.config, frelu.checkpoint, [osp.join(data_root, image)],
                                 osp.join(out, f'funnel_{task}'),
                                 compare=(relu.config, relu.checkpoint))
        written += result['files']
    return written

# a glob per task for tools/image_demo.py: a few demo val images
PREDICTION_IMAGES = {'cls': 'imagenet/val/DEMO_val_0000[0-2].JPEG',
                     'det': 'coco_shapes/val/val_000[0-2].png',
                     'seg': 'cityscapes/leftImg8bit/val/demoville/demoville_000000_00000[0-1]_*.png'}


def prediction_pictures(done: Dict, out: str, data_root: str) -> list:
    """ReLU's and FReLU's predictions (seed 0) side by side on a few demo val images, drawn
    by the hosts' visualizers (``tools/image_demo.py``): ``<out>/pictures_<task>/``."""
    from ..inference import image_demo
    written = []
    for task, images in PREDICTION_IMAGES.items():
        relu, frelu = done.get(f'{task}_relu_s0'), done.get(f'{task}_frelu_s0')
        if frelu is None or relu is None:
            continue
        written += image_demo(osp.join(data_root, images), relu.config, relu.checkpoint,
                              osp.join(out, f'pictures_{task}'), compare=(frelu.config,
                                                                          frelu.checkpoint),
                              titles=['ReLU (seed 0)', 'FReLU (seed 0)'], verbose=False)
    return written
