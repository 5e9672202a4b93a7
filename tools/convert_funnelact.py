#!/usr/bin/env python
"""Convert the official ResNet-50-FReLU weights (megvii-model/FunnelAct) for frelu_mm.

    python tools/convert_funnelact.py res50_frelu.model res50_frelu_mm.pth

The input is read with an unpickler that only rebuilds numpy arrays (a hostile
pickle is refused, nothing in it runs). The output, ``{'state_dict', 'meta'}``,
loads strictly into ``ActResNet(depth=50, style='caffe', act_cfg=dict(type='FReLU'))``
(or ``ActResNetV1b`` with the same arguments) and works as
``init_cfg=dict(type='Pretrained', checkpoint='res50_frelu_mm.pth')``.
The official ``shufflenetv2_0.5x.model`` converts likewise, for
``ShuffleNetV2FReLU(widen='0.5x')`` (``frelu_mm.models.backbones.shufflenet_v2_frelu``).
See docs/weights_and_onnx.md for the input normalisation to use.
"""
import argparse
import os.path as osp
import pickle
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from frelu_mm.converters import convert_funnelact_checkpoint  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official res50_frelu.model or shufflenetv2_0.5x.model '
                        '(MegEngine pickle)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--arch', choices=('auto', 'resnet', 'shufflenet'), default='auto',
                        help='which official network; auto decides from the keys')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip building ActResNet and loading the result strictly')
    parser.add_argument('--list-keys', action='store_true',
                        help='print every official key and where it went')
    args = parser.parse_args(argv)
    try:
        checkpoint, report = convert_funnelact_checkpoint(args.src, args.dst,
                                                          verify=not args.no_verify,
                                                          arch=args.arch)
    except (pickle.UnpicklingError, ValueError, OSError, RuntimeError) as e:
        print(f'error: {args.src}: {e}', file=sys.stderr)
        return 1
    if args.list_keys:
        for k, v in report.mapped.items():
            print(f'map   {k} -> {v}')
        for k, v in report.folded.items():
            print(f'fold  {k} -> {v}')
        for k in report.dropped:
            print(f'drop  {k}')
    backbone = checkpoint['meta']['backbone']
    print(f'wrote {args.dst}: {len(checkpoint["state_dict"])} tensors; mapped '
          f'{len(report.mapped)}, folded {len(report.folded)} conv biases into BN means, '
          f'dropped {report.dropped}, added {len(report.added)} num_batches_tracked')
    print(f'backbone: {backbone}')
    print(checkpoint['meta']['normalisation'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
