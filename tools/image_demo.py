"""Draw a trained model's predictions on images, as the hosts' demo/image_demo.py does.

    python tools/image_demo.py IMAGES CONFIG CHECKPOINT [--device cpu] [--score-thr 0.3]
        [--out-dir OUT] [--compare CONFIG2 CHECKPOINT2] [--cfg-options key=value ...]

IMAGES is an image, a folder or a (quoted) glob. CONFIG may be an mmdet, mmseg or
mmpretrain config; pictures come from the host's visualizer: boxes with class and score,
the colour-coded segmentation over the image, or the top class. With ``--compare`` each
picture shows the two models side by side (e.g. ReLU next to FReLU).
"""
import argparse
import os

from mmengine.config import DictAction

from frelu_mm.inference import image_demo


def parse_args():
    parser = argparse.ArgumentParser(description='Draw predictions on images')
    parser.add_argument('images', help='an image file, a folder of images, or a glob')
    parser.add_argument('config', help='the config file')
    parser.add_argument('checkpoint', help='the checkpoint file')
    parser.add_argument('--device', default='cpu', help='e.g. cpu or cuda:0')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw boxes scoring at least this (detection)')
    parser.add_argument('--out-dir', default='work_dirs/image_demo',
                        help='where the pictures go (one PNG per image)')
    parser.add_argument('--compare', nargs=2, metavar=('CONFIG2', 'CHECKPOINT2'),
                        help='a second model drawn beside the first')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='config overrides for both models, e.g. '
                             'model.test_cfg.score_thr=0.01')
    return parser.parse_args()


def main():
    args = parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    image_demo(args.images, args.config, args.checkpoint, args.out_dir, device=args.device,
               score_thr=args.score_thr, compare=args.compare,
               cfg_options=args.cfg_options)


if __name__ == '__main__':
    main()
