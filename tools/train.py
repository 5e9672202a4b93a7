"""Train an mmdet, mmseg or mmpretrain config (the toolkit follows ``default_scope``).

    python tools/train.py configs/retinanet_frelu.py [--work-dir DIR] [--resume [CKPT]]
        [--amp] [--funnel-stats N] [--cfg-options key=value ...]
        [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os

from mmengine.runner import Runner

from frelu_mm.runner import (allow_runner_checkpoints, check_amp_device, check_data,
                             check_fresh_work_dir, check_pretrained, insert_label_check,
                             load_config, prepare_cpu_distributed, read_checkpoint,
                             repair_last_checkpoint)
from frelu_mm.runner.cli import parse_with_common_args


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector, segmentor or classifier')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or with no value from the latest checkpoint in the work dir')
    parser.add_argument('--funnel-stats', type=int, metavar='N',
                        help='log the FReLU funnel share per stage every N iterations '
                             '(FunnelStatsHook; TensorBoard or any visualizer backend)')
    return parse_with_common_args(parser)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        check_amp_device()
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.funnel_stats:
        cfg.custom_hooks = [*cfg.get('custom_hooks', []),
                            dict(type='FunnelStatsHook', interval=args.funnel_stats)]
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
        latest = os.path.join(cfg.work_dir, 'last_checkpoint')
        repaired = repair_last_checkpoint(cfg.work_dir)
        if repaired:  # read and checked by the repair
            print(f'{latest} named no checkpoint (a run killed while saving); it now names '
                  f'{repaired}, the newest readable one')
        elif os.path.isfile(latest):
            with open(latest) as f:
                read_checkpoint(f.read().strip())
    elif args.resume is not None:
        read_checkpoint(args.resume)
        cfg.resume, cfg.load_from = True, args.resume
    check_fresh_work_dir(cfg.work_dir, resume=args.resume is not None)
    check_data(cfg, splits=('train', 'val'))
    if not cfg.get('resume'):
        check_pretrained(cfg)
    if cfg.default_scope == 'mmseg':
        insert_label_check(cfg)
    allow_runner_checkpoints()
    prepare_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
