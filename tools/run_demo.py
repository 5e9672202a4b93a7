"""The main job on the embedded demo data, end to end.

    python tools/run_demo.py [--out work_dirs/demo_<time>] [--quick]

data -> train ReLU and FReLU RetinaNet -> test -> train ReLU and FReLU PSPNet -> test
-> the comparison tables (paper layout) -> final mAP / mIoU next to chance.
Each run gets its own work dir under a new timestamped folder, so a finished demo's
results are never overwritten.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join('data', 'demo')
FAMILIES = (('det', 'retinanet'), ('seg', 'pspnet'))
ACTIVATIONS = ('relu', 'frelu')


def run(cmd):
    print('\n$ ' + ' '.join(cmd), flush=True)
    subprocess.run([sys.executable, *cmd], cwd=ROOT, check=True)


def quiet_run(cmd, log_path):
    """Run a tool with its (long) log in a file; show the log's tail if it fails."""
    print('$ ' + ' '.join(cmd) + f'   (log: {log_path})', flush=True)
    with open(log_path, 'w') as log:
        done = subprocess.run([sys.executable, *cmd], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT)
    if done.returncode != 0:
        with open(log_path) as log:
            print(''.join(log.readlines()[-40:]))
        raise SystemExit(f'failed: {" ".join(cmd)} (see {log_path})')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', help='demo folder (default work_dirs/demo_<time>)')
    parser.add_argument('--quick', action='store_true',
                        help='a few iterations only: checks the pipeline, learns nothing')
    args = parser.parse_args()
    start = time.time()
    out = args.out or osp.join('work_dirs', time.strftime('demo_%Y%m%d_%H%M%S'))
    if osp.exists(osp.join(ROOT, out, 'summary.json')):
        raise SystemExit(f'{out} holds a finished demo; pass another --out')

    run(['tools/make_demo_data.py', '--root', DATA])
    finals = {}
    for task, family in FAMILIES:
        for act in ACTIVATIONS:
            name = f'{family}_{act}_demo'
            config = osp.join('configs', 'demo', name + '.py')
            work_dir = osp.join(out, name)
            extra = ['--cfg-options', 'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
                     'default_hooks.checkpoint.interval=4'] if args.quick else []
            t0 = time.time()
            quiet_run(['tools/train.py', config, '--work-dir', work_dir, *extra],
                      _log(out, name, 'train'))
            with open(osp.join(ROOT, work_dir, 'last_checkpoint')) as f:
                checkpoint = f.read().strip()
            quiet_run(['tools/test.py', config, checkpoint, '--work-dir', work_dir],
                      _log(out, name, 'test'))
            with open(osp.join(ROOT, work_dir, 'breakdown.json')) as f:
                finals[(task, act)] = json.load(f)['overall']
            print(f'  {name}: {time.time() - t0:.0f} s', flush=True)

    for task, family in FAMILIES:
        run(['tools/compare_runs.py',
             '--relu', osp.join(out, f'{family}_relu_demo'),
             '--frelu', osp.join(out, f'{family}_frelu_demo'),
             '--out', osp.join(out, f'compare_{family}')])
    report(out, finals, time.time() - start)


def _log(out, name, step):
    os.makedirs(osp.join(ROOT, out), exist_ok=True)
    return osp.join(ROOT, out, f'{name}.{step}.log')


def report(out, finals, seconds):
    sys.path.insert(0, ROOT)
    from frelu_mm.demo_data.chance import chance_map, chance_miou
    chance = dict(
        det=chance_map(osp.join(ROOT, DATA, 'coco_shapes', 'annotations', 'instances_val.json')),
        seg=chance_miou(osp.join(ROOT, DATA, 'cityscapes', 'gtFine', 'val')))
    lines = ['', f'Demo finished in {seconds / 60:.1f} min. Final scores on the demo val sets:',
             '| task | metric | ReLU | FReLU | chance |', '|---|---|---|---|---|']
    summary = dict(seconds=seconds, chance=chance, runs={})
    for task, metric in (('det', 'mAP'), ('seg', 'mIoU')):
        relu, frelu = finals[(task, 'relu')][metric], finals[(task, 'frelu')][metric]
        lines.append(f'| {task} | {metric} | {relu:.1f} | {frelu:.1f} | {chance[task]:.1f} |')
        summary['runs'][task] = dict(metric=metric, relu=relu, frelu=frelu)
    print('\n'.join(lines))
    with open(osp.join(ROOT, out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print(f'\nEverything is under {out}/ (comparison tables in compare_*/).')


if __name__ == '__main__':
    main()
