"""Swap the backbone of every config mmdet and mmseg ship for its frelu_mm twin, and check it.

    python tools/zoo_check.py [--act FReLU] [--out report.json] [--markdown table.md]
        [--toolkits mmdet mmseg] [--match SUBSTRING] [--threads 1]

For each config with a ResNet, ResNeXt, RegNet or HRNet backbone (mmpretrain's ResNet
of mmdet's re-id configs included), the twin (``act_cfg=dict(type=ACT)``) is built
beside the host's backbone and must: take the host's state_dict with only FReLU's keys
missing, give FReLU the host's norm type, run a train-mode forward + backward and an
eval-mode forward with the host's feature shapes (and, with ``--act ReLU``, the host's
outputs). Identical backbone dicts are checked once. Prints one table per backbone
family and the reason for each config not accepted; ``--out`` writes every config's
result as JSON. See docs/zoo.md.
"""
import argparse
import json
import time

import torch
from rich.progress import track

import frelu_mm  # noqa: F401  (registers the twins)
from frelu_mm.evaluation.atomic import atomic_write
from frelu_mm.zoo import (TOOLKITS, check_backbone, group_backbones, judge_configs, markdown,
                          print_summary, read_config, shipped_configs, summarize)


def parse_args():
    parser = argparse.ArgumentParser(description='FReLU twins of the hosts\' model zoos')
    parser.add_argument('--act', default='FReLU', help='activation type of the twins')
    parser.add_argument('--out', help='write the full report as JSON')
    parser.add_argument('--markdown', help='write the family tables as Markdown')
    parser.add_argument('--toolkits', nargs='+', default=list(TOOLKITS), choices=TOOLKITS)
    parser.add_argument('--match', help='only configs whose path contains this')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (default 1: the inputs are small, and extra threads '
                             'only wait on each other on a busy machine)')
    return parser.parse_args()


def main():
    args = parse_args()
    start = time.perf_counter()
    act_cfg = dict(type=args.act)
    torch.set_num_threads(args.threads)
    paths = [(p, tk) for tk in args.toolkits for p in shipped_configs(tk)
             if args.match is None or args.match in p]
    records = [read_config(p, tk) for p, tk in track(paths, description='reading configs')]
    groups = group_backbones(records)
    results = {}
    torch.manual_seed(0)
    for key, group in track(list(groups.items()), description='checking backbones'):
        results[key] = check_backbone(group['backbone'], group['toolkit'], act_cfg)
    judge_configs(records, results)
    summary = summarize(records, results)
    print_summary(summary)
    seconds = round(time.perf_counter() - start, 1)
    print(f'done in {seconds} s')
    if args.out:
        for record in records:
            for b in record['backbones']:
                b.pop('cfg')
        report = dict(act_cfg=act_cfg, seconds=seconds, torch=torch.__version__,
                      summary=summary, configs=records,
                      groups=[dict(key=k, **groups[k], **v) for k, v in results.items()])
        atomic_write(args.out, json.dumps(report, indent=1, default=str))
    if args.markdown:
        atomic_write(args.markdown, markdown(summary))


if __name__ == '__main__':
    main()
