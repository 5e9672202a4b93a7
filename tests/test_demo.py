"""The demo's protocol: the plan of runs, the per-run configs, mean ± std, and a quick run."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config

from frelu_mm.demo import demo_plan, mean_std, summarize
from frelu_mm.demo.execute import Job, run_config_text
from frelu_mm.demo.plan import pretrained_of
from frelu_mm.demo_data.imagenet_mini import CLASSES, make_imagenet_mini
from frelu_mm.evaluation import make_breakdown, save_breakdown

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_plan_pretrains_each_activation_and_seed_then_fine_tunes_from_it():
    runs = demo_plan([0, 1, 2])
    cls = [r for r in runs if r.task == 'cls']
    assert sorted(r.key for r in cls) == sorted(
        f'cls_{a}_s{s}' for a in ('relu', 'frelu') for s in range(3))
    tunes = [r for r in runs if r.task != 'cls']
    assert len(tunes) == 2 * 2 * 3  # (det, seg) x (relu, frelu) x seeds
    keys = [r.key for r in runs]
    for r in tunes:
        assert r.after == f'cls_{r.act}_s{r.seed}'  # its own activation, its own seed
        assert keys.index(r.after) < keys.index(r.key)
        assert r.act in osp.basename(r.config) and r.task == {'retinanet': 'det',
                                                              'pspnet': 'seg'}[
            osp.basename(r.config).split('_')[0]]


def test_study_adds_scratch_and_relu_weight_starts_with_the_same_recipe():
    runs = {r.key: r for r in demo_plan([0], tasks=('det', ), study=True)}
    assert runs['det_relu_scratch_s0'].after is None
    assert runs['det_frelu_scratch_s0'].after is None
    assert runs['det_frelu_from_relu_s0'].after == 'cls_relu_s0'
    init = runs['det_frelu_from_relu_init_s0']
    assert init.after == 'cls_relu_s0' and init.options['model.backbone.act_cfg.relu_init']
    # every arm of a task trains the same demo config of its activation, nothing else
    for r in runs.values():
        extra = set(r.options) - {'model.backbone.act_cfg.relu_init'}
        assert all('data_root' in k or 'ann_file' in k or 'classes' in k for k in extra)


def test_mean_std_is_the_sample_std():
    values = [30.1, 28.4, 33.0]
    stat = mean_std(values)
    assert stat['mean'] == pytest.approx(np.mean(values))
    assert stat['std'] == pytest.approx(np.std(values, ddof=1))
    assert mean_std([5.0]) == dict(mean=5.0, std=0.0)
    assert mean_std([None, 2.0, 4.0])['mean'] == pytest.approx(3.0)
    assert mean_std([None]) == dict(mean=None, std=None)


def test_run_config_sets_seed_start_and_no_validation(tmp_path):
    run = {r.key: r for r in demo_plan([1], study=True)}['det_frelu_from_relu_init_s1']
    ckpt = str(tmp_path / 'iter_300.pth')
    path, options = pretrained_of(run, {'cls_relu_s1': ckpt})
    assert path == ckpt
    text = run_config_text(run, ROOT, options, str(tmp_path / 'p.json'), quick=False)
    (tmp_path / 'run.py').write_text(text)
    cfg = Config.fromfile(str(tmp_path / 'run.py'))
    base = Config.fromfile(osp.join(ROOT, run.config))
    assert cfg.randomness.seed == 1
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=ckpt,
                                               prefix='backbone.')
    assert cfg.model.backbone.act_cfg == dict(type='FReLU', relu_init=True)
    assert cfg.val_dataloader is None and cfg.val_cfg is None and cfg.val_evaluator is None
    assert cfg.custom_hooks[0]['type'] == 'ProgressFileHook'
    # the recipe is the demo config's
    assert cfg.train_cfg == base.train_cfg and cfg.optim_wrapper == base.optim_wrapper
    assert cfg.param_scheduler == base.param_scheduler


def _fake_done(tmp_path):
    """Jobs of 2 seeds x (relu, frelu) with crafted breakdowns."""
    done = {}
    scores = {('relu', 0): 30.0, ('relu', 1): 32.0, ('frelu', 0): 35.0, ('frelu', 1): 36.0}
    for run in demo_plan([0, 1], tasks=('det', )):
        job = Job(run, str(tmp_path), str(tmp_path))
        job.pretrained = str(tmp_path / f'{run.after}.pth') if run.after else None
        job.seconds = 1.0
        if run.task == 'cls':
            bd = make_breakdown('cls', dict(top1=50.0 + run.seed, top5=90.0, err1=50.0 - run.seed),
                                {c: dict(Acc=50.0) for c in CLASSES})
        else:
            m = scores[(run.act, run.seed)]
            bd = make_breakdown('det', {k: m for k in ('mAP', 'AP50', 'AP75', 'APs', 'APm',
                                                       'APl')},
                                {c: {k: m for k in ('mAP', 'AP50', 'AP75', 'APs', 'APm', 'APl')}
                                 for c in ('square', 'disc', 'triangle')})
        save_breakdown(bd, job.work_dir)
        done[run.key] = job
    return done


def test_summary_has_the_documented_form(tmp_path):
    summary = summarize(_fake_done(tmp_path), [0, 1])
    assert summary['protocol'] == 'pretrain-finetune' and summary['seeds'] == [0, 1]
    det = summary['runs']['det']
    assert det['metric'] == 'mAP'
    assert det['relu']['per_seed'] == [30.0, 32.0]
    assert det['relu']['mean'] == pytest.approx(31.0)
    assert det['relu']['std'] == pytest.approx(np.std([30.0, 32.0], ddof=1))
    assert det['frelu']['pretrained'] == ['cls_frelu_s0.pth', 'cls_frelu_s1.pth']
    assert summary['runs']['cls']['relu']['pretrained'] == [None, None]
    assert summary['runs']['cls']['frelu']['per_seed'] == [50.0, 51.0]
    json.dumps(summary)


def test_quick_demo_end_to_end(tmp_path):
    """tools/run_demo.py --quick: pretrain -> fine-tune -> test -> summary, 2 runs at once."""
    data, out = str(tmp_path / 'data'), str(tmp_path / 'demo')
    done = subprocess.run(
        [sys.executable, 'tools/run_demo.py', '--quick', '--seeds', '1', '--tasks', 'det',
         '--data', data, '--out', out],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with open(osp.join(out, 'summary.json')) as f:
        summary = json.load(f)
    assert set(summary['runs']) == {'cls', 'det'}
    for act in ('relu', 'frelu'):
        tune = summary['runs']['det'][act]
        assert tune['pretrained'] == [osp.relpath(
            osp.join(out, f'cls_{act}_s0', 'iter_4.pth'), ROOT)]
        assert len(tune['per_seed']) == 1
    assert osp.isfile(osp.join(out, 'tables.md'))
    assert 'mean ± std' in done.stdout
    # the fine-tune really started from the pretraining: its log says so
    with open(osp.join(out, 'logs', 'det_frelu_s0.log')) as f:
        assert 'load backbone. in model from' in f.read()
    # ReLU | FReLU predictions of seed 0 on the det val images, and of the pretraining
    for task in ('cls', 'det'):
        pictures = os.listdir(osp.join(out, f'pictures_{task}'))
        assert len(pictures) == 3 and all(p.endswith('.png') for p in pictures)
        assert f'pictures_{task}' in done.stdout


def test_imagenet_mini_layout_and_determinism(tmp_path):
    import cv2
    counts = make_imagenet_mini(str(tmp_path / 'a'), num_train=2, num_val=1, size=32)
    make_imagenet_mini(str(tmp_path / 'b'), num_train=2, num_val=1, size=32)
    assert counts == dict(train=2 * len(CLASSES), val=len(CLASSES)) and len(CLASSES) == 22
    for split in ('train', 'val'):
        lines = (tmp_path / 'a' / 'meta' / f'{split}.txt').read_text().split()
        paths, labels = lines[0::2], [int(x) for x in lines[1::2]]
        assert sorted(set(labels)) == list(range(22))
        for path, label in zip(paths, labels):
            if split == 'train':
                assert path.split('/')[0] == CLASSES[label]  # train/<class>/...
            a = cv2.imread(str(tmp_path / 'a' / split / path))
            b = cv2.imread(str(tmp_path / 'b' / split / path))
            assert a.shape == (32, 32, 3) and (a == b).all()
