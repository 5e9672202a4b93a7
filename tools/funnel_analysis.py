"""Where FReLU's condition wins, per layer, per stage and per pixel, on your images.

    python tools/funnel_analysis.py CONFIG CKPT --images IMG [IMG|DIR ...]
        [--compare CONFIG2 CKPT2] --out-dir DIR [--kind auto|frelu|relu]
        [--cfg-options key=value ...] [--device cpu]

Works for the mmdet, mmseg and mmpretrain configs of this project (the toolkit
follows the config's ``default_scope``); images go through the config's test
pipeline and ``model.data_preprocessor``. Writes in ``--out-dir``:

* ``funnel.json``: ``{"layers": [{"name", "stage", "kind", "share", "margin"}, ...],
  "stages": {stage: {"share", "margin", "layers"}}, "per_image": [...]}``, one layer
  entry per FReLU (per ReLU for a ReLU model), and ``"compare"`` for the twin;
* ``funnel_layers.png``: the share per layer, the twin's beside it;
* ``funnel_<i>_<image>.png``: per image, one panel per stage with the pixel-wise share
  over the input, the twin's row below.

The share of an FReLU is the fraction of its output elements where ``T(x) > x``; of
a ReLU, the fraction clipped to 0 (``x < 0``). ``--compare`` measures the twin at
the same module paths.
"""
import argparse

from mmengine.config import DictAction

import frelu_mm  # noqa: F401  (registers FReLU, the backbones and heads)
from frelu_mm.funnel.analysis import funnel_analysis


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Funnel statistics and pictures of a checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--images', nargs='+', required=True, help='image files or folders')
    parser.add_argument('--compare', nargs=2, metavar=('CONFIG2', 'CKPT2'),
                        help='the twin (e.g. the ReLU network) to draw beside it')
    parser.add_argument('--out-dir', required=True, help='where funnel.json and the PNGs go')
    parser.add_argument('--kind', choices=['auto', 'frelu', 'relu'], default='auto',
                        help='sites to measure: FReLU if the model has any (auto), or ReLU')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings of both models')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    result = funnel_analysis(args.config, args.checkpoint, args.images, args.out_dir,
                             compare=args.compare, kind=args.kind,
                             cfg_options=args.cfg_options, device=args.device)
    for name, s in result['stages'].items():
        twin = result.get('compare', {}).get('stages', {}).get(name)
        extra = '' if twin is None or twin['share'] is None else f'   twin {twin["share"]:.3f}'
        share = 'n/a' if s['share'] is None else f'{s["share"]:.3f}'
        print(f'{name:>14}: share {share}{extra}')
    print('wrote', args.out_dir + '/funnel.json', *result['files'], sep='\n  ')


if __name__ == '__main__':
    main()
