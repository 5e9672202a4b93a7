"""Write the embedded demo data (COCO-format shapes, Cityscapes-format scenes,
an ImageNet-layout classification set for pretraining).

    python tools/make_demo_data.py [--root data/demo]

Deterministic and offline; a second run rewrites the same files.
"""
import argparse
import os.path as osp

from frelu_mm.demo_data import make_cityscapes_scenes, make_coco_shapes, make_imagenet_mini


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default='data/demo', help='output folder')
    args = parser.parse_args()
    ann = make_coco_shapes(osp.join(args.root, 'coco_shapes'))
    seg = make_cityscapes_scenes(osp.join(args.root, 'cityscapes'))
    cls = make_imagenet_mini(osp.join(args.root, 'imagenet'))
    print(f'classification: {cls["train"]} train / {cls["val"]} val images under '
          f'{osp.join(args.root, "imagenet")}')
    print(f'detection: {ann["train"]}, {ann["val"]}')
    print(f'segmentation: {len(seg)} label maps under {osp.join(args.root, "cityscapes")}')


if __name__ == '__main__':
    main()
