"""IMAGES as the hosts' demos take it: one image, a folder of images, or a glob."""
import glob
import os
import os.path as osp
from typing import List

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(images: str) -> List[str]:
    """The image files ``images`` names, sorted.

    Raises:
        FileNotFoundError: nothing matches, with what was looked for.
    """
    if osp.isdir(images):
        found = [osp.join(images, f) for f in os.listdir(images)
                 if f.lower().endswith(IMAGE_SUFFIXES)]
        what = f'no images ({", ".join(IMAGE_SUFFIXES)}) in folder {images!r}'
    elif osp.isfile(images):
        found, what = [images], ''
    else:
        found = [f for f in glob.glob(images, recursive=True)
                 if f.lower().endswith(IMAGE_SUFFIXES)]
        what = f'{images!r} is not an image, a folder or a glob matching images'
    if not found:
        raise FileNotFoundError(f'{what}; pass an image file, a folder of images or a quoted '
                                f"glob such as 'data/demo/coco_shapes/val/*.png'")
    return sorted(found)
