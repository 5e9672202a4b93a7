"""The demo's protocol as a list of runs: pretrain, then fine-tune, for every seed.

The paper pretrains each backbone on ImageNet with its own activation and then
fine-tunes it on COCO (RetinaNet) and Cityscapes (PSPNet). The demo does the same in
miniature: ``cls`` pretrains the demo backbone on the embedded ImageNet-layout set,
``det`` and ``seg`` fine-tune the demo RetinaNet and PSPNet from that checkpoint.

An *arm* is how a fine-tune starts. The default demo runs the paper's arms
(``relu`` from the ReLU pretraining, ``frelu`` from the FReLU pretraining); the
study adds the other ways to start (from scratch, and FReLU from ReLU weights with a
random or a ReLU-like funnel). Every arm of a task has the same recipe and seeds.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

CONFIGS = {
    'cls': 'configs/demo/resnetv1c50_{act}_in1k_demo.py',
    'det': 'configs/demo/retinanet_{act}_demo.py',
    'seg': 'configs/demo/pspnet_{act}_demo.py',
}
METRICS = {'cls': 'top1', 'det': 'mAP', 'seg': 'mIoU'}


@dataclass(frozen=True)
class Arm:
    """One way to start a fine-tune.

    Args:
        name (str): the arm's key in ``summary.json``.
        act (str): the fine-tuned network's activation (``relu``/``frelu``).
        pretrain_act (str | None): the activation of the pretraining it starts
            from; None trains from scratch.
        relu_init (bool): start FReLU's funnel at zero, so that FReLU == ReLU.
        label (str): how tables name it.
    """
    name: str
    act: str
    pretrain_act: Optional[str]
    relu_init: bool = False
    label: str = ''


PAPER_ARMS = (
    Arm('relu', 'relu', 'relu', label='ReLU, pretrained with ReLU'),
    Arm('frelu', 'frelu', 'frelu', label='FReLU, pretrained with FReLU'),
)
STUDY_ARMS = (
    Arm('relu_scratch', 'relu', None, label='ReLU, from scratch'),
    Arm('frelu_scratch', 'frelu', None, label='FReLU, from scratch'),
    Arm('frelu_from_relu', 'frelu', 'relu', label='FReLU, ReLU weights, random funnel'),
    Arm('frelu_from_relu_init', 'frelu', 'relu', relu_init=True,
        label='FReLU, ReLU weights, relu_init'),
)


@dataclass
class Run:
    """One training run and its test.

    Args:
        key (str): unique name, also its work dir's name.
        task (str): ``cls``, ``det`` or ``seg``.
        arm (str): the arm (for ``cls``: the activation).
        act (str): the activation.
        seed (int): the run's seed.
        config (str): the demo config it trains.
        after (str | None): the key of the pretraining run it starts from.
        options (dict): config keys the run sets on top of ``config``.
    """
    key: str
    task: str
    arm: str
    act: str
    seed: int
    config: str
    after: Optional[str] = None
    options: Dict = field(default_factory=dict)


def data_options(task: str, data: str) -> Dict:
    """Config keys that point a demo run at the demo data under ``data``."""
    if task == 'cls':
        root = f'{data}/imagenet'
        return {f'{s}_dataloader.dataset.{k}': v for s in ('train', 'test')
                for k, v in (('data_root', root), ('classes', f'{root}/meta/classes.txt'))}
    root = f'{data}/coco_shapes/' if task == 'det' else f'{data}/cityscapes/'
    out = {f'{s}_dataloader.dataset.data_root': root for s in ('train', 'test')}
    if task == 'det':
        out['test_evaluator.ann_file'] = root + 'annotations/instances_val.json'
    return out


def select_arms(names: Optional[Sequence[str]] = None, study: bool = False) -> Tuple[Arm, ...]:
    """The arms named (any of :data:`PAPER_ARMS` + :data:`STUDY_ARMS`), by default the
    paper's, or all of them with ``study``."""
    known = {a.name: a for a in PAPER_ARMS + STUDY_ARMS}
    if names is None:
        return PAPER_ARMS + (STUDY_ARMS if study else ())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f'unknown arms {unknown}; choose from {list(known)}')
    return tuple(known[n] for n in names)


def demo_plan(seeds: Sequence[int], tasks: Sequence[str] = ('det', 'seg'),
              study: bool = False, data: str = 'data/demo',
              arms: Optional[Sequence[str]] = None, pretrain: bool = True) -> List[Run]:
    """The runs of the demo, pretrainings first.

    Args:
        seeds (Sequence[int]): one pretraining per activation and seed; each
            fine-tune of seed ``s`` starts from the pretraining of seed ``s``.
        tasks (Sequence[str]): the fine-tune tasks.
        study (bool): add the study's arms (scratch, FReLU from ReLU weights).
        data (str): the demo data folder (``tools/make_demo_data.py --root``).
        arms (Sequence[str] | None): only these arms (see :func:`select_arms`).
        pretrain (bool): include the pretraining runs (False: their checkpoints
            come from an earlier demo, see ``tools/run_demo.py --reuse-pretraining``).

    Returns:
        list[Run]: in an order where every run comes after the one it starts from.
    """
    arms = select_arms(arms, study)
    acts = sorted({a.pretrain_act for a in arms if a.pretrain_act}, key=('relu', 'frelu').index)
    runs = [Run(f'cls_{act}_s{s}', 'cls', act, act, s, CONFIGS['cls'].format(act=act),
                options=data_options('cls', data))
            for s in seeds for act in acts] if pretrain else []
    for s in seeds:
        for task in tasks:
            for arm in arms:
                options = data_options(task, data)
                if arm.relu_init:
                    options['model.backbone.act_cfg.relu_init'] = True
                after = f'cls_{arm.pretrain_act}_s{s}' if arm.pretrain_act else None
                runs.append(Run(f'{task}_{arm.name}_s{s}', task, arm.name, arm.act, s,
                                CONFIGS[task].format(act=arm.act), after, options))
    return runs


def arm_labels() -> Dict[str, str]:
    """Arm key -> label, in table order."""
    return {a.name: a.label for a in PAPER_ARMS + STUDY_ARMS}


def group_by_task(runs: Sequence[Run]) -> Dict[str, Dict[str, List[Run]]]:
    """task -> arm -> its runs (in seed order)."""
    out: Dict[str, Dict[str, List[Run]]] = {}
    for run in runs:
        out.setdefault(run.task, {}).setdefault(run.arm, []).append(run)
    return out


def pretrained_of(run: Run, checkpoints: Dict[str, str]) -> Tuple[Optional[str], Dict]:
    """The checkpoint ``run`` starts from and the config keys that load it."""
    if run.after is None:
        return None, {}
    path = checkpoints[run.after]
    return path, {'model.backbone.init_cfg': dict(type='Pretrained', checkpoint=path,
                                                  prefix='backbone.')}
