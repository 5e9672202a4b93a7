"""What FunnelStatsHook costs a training step, logging every N iterations.

    python tools/benchmark_funnel_hook.py [--interval 50] [--rounds 10] [--batch 4] [--size 128]

Times plain steps, steps the hook skips and steps it logs, interleaved in one run
(``frelu_mm.funnel.benchmark``), and prints the step-time ratio with the hook vs
without: ``((N - 1) * skipped + logging) / (N * plain)``. Target: below 1.02.
"""
import argparse
import json

from frelu_mm.funnel.benchmark import hook_cost


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--interval', type=int, default=50)
    parser.add_argument('--rounds', type=int, default=10, help='measured steps of each kind')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--base-channels', type=int, default=8,
                        help='ResNet-50 width (8: the demo backbone)')
    parser.add_argument('--json', help='also write the figures to this file')
    args = parser.parse_args()
    r = hook_cost(args.interval, args.rounds, args.batch, args.size, args.base_channels)
    med = r['median_s']
    print(f"median step: plain {med['plain'] * 1e3:.1f} ms, hooked but skipped "
          f"{med['off'] * 1e3:.1f} ms ({r['off_step_ratio']:.3f}x), logging "
          f"{med['logging'] * 1e3:.1f} ms ({r['logging_step_ratio']:.3f}x)")
    print(f"step time with FunnelStatsHook(interval={args.interval}) / without: {r['ratio']:.4f} "
          f"({(r['ratio'] - 1) * 100:+.2f}%)")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(r, f, indent=2)


if __name__ == '__main__':
    main()
