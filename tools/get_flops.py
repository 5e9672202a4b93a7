"""Parameters and FLOPs of a config, in the paper's columns, FReLU's max counted.

    python tools/get_flops.py CONFIG [--shape H W] [--input-size 224] [--num-classes 1000]
        [--backbone-only] [--no-max] [--no-bn] [--out WORK_DIR/complexity.json]
        [--cfg-options key=value ...]

CONFIG may be an mmdet, mmseg or mmpretrain (classification, default_scope 'mmpretrain')
config. Reports, batch 1:
  backbone    the config's backbone alone at 3 x 224 x 224 (the paper's classification setting);
  classifier  backbone + global average pool + 1000-way linear layer: the ImageNet model
              whose params/FLOPs the paper's RetinaNet table lists (ResNet-50: 25.5M); for a
              classification config, the config's own ImageClassifier (neck, head, classes)
              at 224 x 224: the paper's ImageNet columns;
  model       the whole detector / segmentor / classifier at --shape (default 800x1333 det,
              512x1024 seg, 224x224 cls; padded to the preprocessor's divisor),
              forward(mode='tensor'): no NMS, no aux head.

How FLOPs are counted (mmengine.analysis, fvcore's convention): one multiply-add = 1 FLOP
(conv, linear); eval BatchNorm 2 per element (--no-bn: 0, as if folded into the conv);
ReLU, sigmoid, SiLU, residual adds count 0 (mmengine has no handle; listed as 'uncounted').
mmengine ignores aten::max and has no handle for aten::maximum; here an element-wise max of
two tensors -- FReLU's max(x, T(x)) -- counts 1 FLOP per output element (--no-max: mmengine's
default, 0). So an FReLU site of C x H x W with a 3x3 depthwise condition adds
(9 + 2 + 1) * C*H*W FLOPs and 9*C (+2C BN) parameters.

--out writes the report as JSON (tools/compare_runs.py reads <work_dir>/complexity.json).
"""
import argparse

from mmengine.config import Config, DictAction
from prettytable import PrettyTable

from frelu_mm.analysis import COUNTING_NOTE, complexity_report, format_count, save_complexity


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog=COUNTING_NOTE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='whole-model input size '
                        '(default 800 1333 det, 512 1024 seg, 224 224 cls)')
    parser.add_argument('--input-size', type=int, default=224,
                        help='backbone / classifier input side (default 224)')
    parser.add_argument('--num-classes', type=int, default=1000,
                        help='classes of the classifier head (default 1000; a classification '
                        'config keeps its own head)')
    parser.add_argument('--backbone-only', action='store_true',
                        help='skip the whole detector / segmentor / classifier at --shape')
    parser.add_argument('--no-max', action='store_true',
                        help="don't count element-wise max (mmengine's default)")
    parser.add_argument('--no-bn', action='store_true',
                        help="don't count BatchNorm (as if folded into the convs)")
    parser.add_argument('--out', help='write the report as JSON here, e.g. WORK_DIR/complexity.json')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def report_table(report: dict) -> str:
    """The report as a console table.

    Args:
        report (dict): from ``complexity_report``.
    """
    table = PrettyTable(['part', 'input', 'params', 'FLOPs', 'FLOPs (exact)', 'counted 0'])
    for part in ('backbone', 'classifier', 'model'):
        if part not in report:
            continue
        r = report[part]
        table.add_row([part, 'x'.join(map(str, r['input_shape'])), format_count(r['params']),
                       format_count(r['flops']), r['flops'],
                       ', '.join(f'{k.replace("aten::", "")}x{v}'
                                 for k, v in sorted(r['uncounted_ops'].items())) or '-'])
    table.align['counted 0'] = 'l'
    return table.get_string()


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    report = complexity_report(cfg, shape=args.shape, input_size=args.input_size,
                               num_classes=args.num_classes, count_max=not args.no_max,
                               count_bn=not args.no_bn, whole_model=not args.backbone_only)
    report['config'] = args.config
    print(f'{args.config} ({report["task"]})')
    print(report_table(report))
    if 'model' in report and 'params_without_aux' in report['model']:
        print(f'whole model without the auxiliary head: '
              f'{format_count(report["model"]["params_without_aux"])} params')
    print(report['counting'])
    if args.out:
        save_complexity(report, args.out)
        print(f'saved {args.out}')
    return report


if __name__ == '__main__':
    main()
