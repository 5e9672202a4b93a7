"""Test a checkpoint of an mmdet, mmseg or mmpretrain config and save the per-class breakdown.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out PATH] [--show-dir DIR]
        [--fuse] [--cfg-options key=value ...] [--launcher none|pytorch|slurm|mpi]

Writes ``breakdown.json`` / ``.csv`` / ``.md`` (overall and per-class metrics, in
percent) into the work dir, which defaults to the training run's
(``work_dirs/<config name>``).
"""
import argparse
import os
import os.path as osp
import time

from mmengine.runner import Runner

from frelu_mm.runner import (allow_runner_checkpoints, check_checkpoint_fits, check_data,
                             insert_label_check, load_config, prepare_cpu_distributed,
                             read_checkpoint)
from frelu_mm.runner.cli import parse_with_common_args


def parse_args():
    parser = argparse.ArgumentParser(description='Test a detector, segmentor or classifier')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where metrics and the breakdown are saved')
    parser.add_argument('--out', help='detection: a .pkl file of raw predictions; '
                        'segmentation: a directory for the predicted label maps')
    parser.add_argument('--show-dir', help='save drawn predictions to this directory')
    parser.add_argument('--fuse', action='store_true',
                        help="fold FReLU's norm into its conv for faster inference")
    parser.add_argument('--no-breakdown', action='store_true',
                        help="keep the config's evaluator as it is (no per-class files)")
    return parse_with_common_args(parser)


def enable_visualization(cfg, show_dir):
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise ValueError('--show-dir needs a visualization hook in default_hooks')
    hook['draw'] = True
    if cfg.default_scope == 'mmdet':
        hook['test_out_dir'] = show_dir
    else:
        cfg.visualizer['save_dir'] = show_dir


def add_raw_output(cfg, out):
    if cfg.default_scope == 'mmdet':
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out {out}: detection predictions are saved as .pkl')
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) \
            else [cfg.test_evaluator]
        cfg.test_evaluator = [*evaluators, dict(type='DumpDetResults', out_file_path=out)]
    else:
        cfg.test_evaluator['output_dir'] = out
        cfg.test_evaluator['keep_results'] = True


def keep_previous_breakdown(work_dir):
    """Move an earlier test's breakdown files aside (never overwrite them silently)."""
    previous = osp.join(work_dir, 'breakdown.json')
    if not osp.isfile(previous):
        return
    stamp = time.strftime('%Y%m%d_%H%M%S', time.localtime(osp.getmtime(previous)))
    for ext in ('json', 'csv', 'md'):
        old = osp.join(work_dir, f'breakdown.{ext}')
        if osp.isfile(old):
            os.replace(old, osp.join(work_dir, f'breakdown_{stamp}.{ext}'))
    print(f'an earlier breakdown in {work_dir} was kept as breakdown_{stamp}.*')


def main():
    args = parse_args()
    checkpoint = read_checkpoint(args.checkpoint)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = args.checkpoint
    check_data(cfg, splits=('test', ))
    if cfg.default_scope == 'mmseg':
        insert_label_check(cfg)
    if not args.no_breakdown:
        from frelu_mm.evaluation import to_breakdown_evaluator
        keep_previous_breakdown(cfg.work_dir)
        cfg.test_evaluator = to_breakdown_evaluator(cfg.test_evaluator, cfg.work_dir)
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    if args.out:
        add_raw_output(cfg, args.out)
    if args.fuse:
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='FuseFReLUHook')]
    allow_runner_checkpoints()
    prepare_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    check_checkpoint_fits(runner.model, checkpoint, args.checkpoint)
    del checkpoint
    runner.test()


if __name__ == '__main__':
    main()
