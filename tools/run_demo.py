"""The main job on the embedded demo data: the paper's protocol in miniature.

    python tools/run_demo.py [--out work_dirs/demo_<time>] [--seeds 3] [--jobs 2]
        [--tasks det seg] [--data data/demo] [--study] [--quick]

data -> pretrain the demo backbone with ReLU and with FReLU on the ImageNet-layout set
-> fine-tune RetinaNet and PSPNet from those checkpoints -> test every run -> mean ± std
over seeds, per class in the paper's layout, next to chance -> a funnel picture of the
FReLU models next to the ReLU ones -> ReLU and FReLU predictions side by side
(tools/image_demo.py) on a few val images. Every activation gets the
same recipe and seeds. ``--study`` adds the other ways to start a fine-tune (from
scratch; FReLU from the ReLU pretraining with a random or a ReLU-like funnel). Each
demo lands in a new timestamped folder, so a finished demo is never overwritten.
"""
import argparse
import os.path as osp
import subprocess
import sys
import time
import warnings

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
DATA = osp.join('data', 'demo')
# mmengine reads the hosts' configs through pkg_resources; its deprecation note is noise here
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', help='demo folder (default work_dirs/demo_<time>)')
    parser.add_argument('--seeds', type=int, default=3, help='seeds per arm (default 3)')
    parser.add_argument('--jobs', type=int, default=2,
                        help='runs at once, sharing the cores (default 2)')
    parser.add_argument('--tasks', nargs='+', default=['det', 'seg'], choices=['det', 'seg'],
                        help='the fine-tune tasks (default both)')
    parser.add_argument('--data', default=DATA, help=f'demo data folder (default {DATA})')
    parser.add_argument('--study', action='store_true',
                        help='also fine-tune from scratch and FReLU from ReLU weights')
    parser.add_argument('--arms', nargs='+', help='only these ways to start a fine-tune: relu, '
                        'frelu (the default), relu_scratch, frelu_scratch, frelu_from_relu, '
                        'frelu_from_relu_init (--study: all)')
    parser.add_argument('--reuse-pretraining', metavar='DEMO_DIR',
                        help="fine-tune from an earlier demo's pretraining checkpoints "
                             '(same seeds) instead of pretraining again')
    parser.add_argument('--quick', action='store_true',
                        help='a few iterations per run: checks the pipeline, learns nothing')
    return parser.parse_args()


def earlier_pretraining(demo_dir, runs):
    """Run key -> checkpoint of the pretrainings ``runs`` start from, in an earlier demo."""
    found = {}
    for key in sorted({r.after for r in runs if r.after}):
        latest = osp.join(demo_dir, key, 'last_checkpoint')
        if not osp.isfile(latest):
            raise SystemExit(f'--reuse-pretraining {demo_dir}: no finished pretraining {key} '
                             f'there ({latest} is missing); run the demo with these seeds first')
        with open(latest) as f:
            found[key] = osp.abspath(f.read().strip())
    return found


def main():
    args = parse_args()
    from frelu_mm.demo import demo_plan, execute, report
    from frelu_mm.demo.report import funnel_pictures, prediction_pictures
    start = time.time()
    out = args.out or osp.join('work_dirs', time.strftime('demo_%Y%m%d_%H%M%S'))
    if osp.exists(osp.join(ROOT, out, 'summary.json')):
        raise SystemExit(f'{out} holds a finished demo; pass another --out')
    subprocess.run([sys.executable, 'tools/make_demo_data.py', '--root', args.data], cwd=ROOT,
                   check=True)
    seeds = list(range(args.seeds))
    reuse = args.reuse_pretraining
    runs = demo_plan(seeds, args.tasks, args.study, args.data, args.arms, pretrain=not reuse)
    pretrained = earlier_pretraining(reuse, runs) if reuse else None
    print(f'{len(runs)} runs ({len(seeds)} seeds), {args.jobs} at a time; logs in '
          f'{osp.join(out, "logs")}', flush=True)
    done = execute(runs, osp.join(ROOT, out), ROOT, jobs=args.jobs, quick=args.quick,
                   pretrained=pretrained)
    report(done, seeds, osp.join(ROOT, out), osp.join(ROOT, args.data),
           args.study or bool(args.arms),
           time.time() - start)
    for path in funnel_pictures(done, osp.join(ROOT, out), osp.join(ROOT, args.data)):
        print(f'funnel picture: {osp.relpath(path, ROOT)}')
    for path in prediction_pictures(done, osp.join(ROOT, out), osp.join(ROOT, args.data)):
        print(f'predictions, ReLU | FReLU: {osp.relpath(path, ROOT)}')
    print(f'\nEverything is under {out}/ (summary.json, tables.md, one folder per run).')


if __name__ == '__main__':
    main()
