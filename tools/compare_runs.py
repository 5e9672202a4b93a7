"""Compare ReLU, Swish and FReLU runs in the paper's layout (Markdown, CSV, PNG).

    python tools/compare_runs.py --relu WORK_DIR [WORK_DIR ...] --swish ... --frelu ... \
        [--paper] [--paper-backbone ResNet-50|ResNet-101|ShuffleNetV2|'MobileNet 0.75']
        [--out DIR] [--no-complexity]

Each WORK_DIR is a run's work dir holding the breakdown.json that tools/test.py wrote
(or the newest one below it), or the breakdown.json itself. A flag may take a detection,
a segmentation and a classification run; the tables are built per task:
  detection       activation, params, FLOPs, mAP, AP50, AP75, APs, APm, APl (+ Delta rows);
  segmentation    one row per class, mean IU first, one IoU column per activation (+ Delta);
  classification  activation, params, FLOPs, top-1 err, top-5 err (+ Delta rows; the
                  paper's ImageNet table).
Delta is against the ReLU run (no ReLU run: no Delta); for errors a negative Delta is a
gain. --paper adds the paper's numbers and their Deltas: RetinaNet rows and ImageNet
top-1 errors (ReLU, PReLU, Swish, FReLU) of --paper-backbone (RetinaNet has ResNet-50
and ShuffleNetV2 rows only; for another backbone the detection table says so), PSPNet
ResNet-50 Cityscapes per-class IoU.

Params/FLOPs (detection, classification): the backbone as a 1000-class ImageNet model at
224x224 as in the paper's table (for a classification run its own classifier), FReLU's
max counted (see tools/get_flops.py). Read from <work_dir>/complexity.json
(tools/get_flops.py CONFIG --out WORK_DIR/complexity.json) when present, else counted
from the config mmengine dumped at the top of the work dir (a few seconds per run),
unless --no-complexity.

Writes into --out: <task>_table.md/.csv and <task>_chart.png for det, seg and cls, and
comparison.md; prints the Markdown.
"""
import argparse
import sys

from frelu_mm.reporting import build_tables, paper_backbones, save_comparison


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     epilog=__doc__.split('\n', 3)[3],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for act in ('ReLU', 'Swish', 'FReLU'):
        parser.add_argument(f'--{act.lower()}', nargs='+', default=[], metavar='DIR',
                            help=f'work dir(s) or breakdown.json of the {act} run(s)')
    parser.add_argument('--paper', action='store_true', help="add the paper's numbers")
    parser.add_argument('--paper-backbone', default='ResNet-50', choices=paper_backbones(),
                        help="the paper's RetinaNet and ImageNet rows to show (default ResNet-50)")
    parser.add_argument('--out', default='work_dirs/comparison', help='output folder')
    parser.add_argument('--digits', type=int, default=1, help='decimals (default 1, as the paper)')
    parser.add_argument('--no-complexity', action='store_true',
                        help="don't count params/FLOPs from dumped configs (complexity.json is still read)")
    parser.add_argument('--no-chart', action='store_true', help='skip the PNG charts')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    dirs = {'ReLU': args.relu, 'Swish': args.swish, 'FReLU': args.frelu}
    if not any(dirs.values()):
        sys.exit('give at least one of --relu, --swish, --frelu')
    try:
        tables = build_tables(dirs, args.paper, args.paper_backbone,
                              compute_complexity=not args.no_complexity)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'compare_runs: {e}')
    text = save_comparison(tables, args.out, args.digits, charts=not args.no_chart)
    print(text)
    print(f'saved to {args.out}')
    return tables


if __name__ == '__main__':
    main()
