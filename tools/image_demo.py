"""Draw a trained model's predictions on images, as the hosts' demo/image_demo.py does.

    python tools/image_demo.py IMAGES CONFIG CHECKPOINT [--device cpu] [--score-thr 0.3]
        [--out-dir OUT] [--compare CONFIG2 CHECKPOINT2]

IMAGES is an image, a folder or a (quoted) glob. CONFIG may be an mmdet, mmseg or
mmpretrain config; pictures come from the host's visualizer: boxes with class and score,
the colour-coded segmentation over the image, or the top class. With ``--compare`` each
picture shows the two models side by side (e.g. ReLU next to FReLU).
"""
import argparse
import os
import os.path as osp

import mmcv

from frelu_mm.inference import (draw_prediction, init_for_config, list_images, predict,
                                side_by_side)


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
    return parser.parse_args()


def main():
    args = parse_args()
    images = list_images(args.images)
    runs = [(args.config, args.checkpoint)]
    if args.compare:
        runs.append(tuple(args.compare))
    models = [(*init_for_config(cfg, ckpt, args.device), osp.splitext(osp.basename(cfg))[0])
              for cfg, ckpt in runs]
    os.makedirs(args.out_dir, exist_ok=True)
    for i, path in enumerate(images, 1):
        image = mmcv.imread(path, channel_order='rgb')
        pictures = [draw_prediction(model, scope, image, predict(model, scope, path),
                                    args.score_thr) for model, scope, _ in models]
        titles = [name for _, _, name in models] if len(models) > 1 else None
        picture = side_by_side(pictures, titles) if len(pictures) > 1 else pictures[0]
        out = osp.join(args.out_dir, osp.splitext(osp.basename(path))[0] + '.png')
        mmcv.imwrite(picture[..., ::-1], out, auto_mkdir=True)  # mmcv writes BGR
        print(f'[{i}/{len(images)}] {out}')


if __name__ == '__main__':
    main()
