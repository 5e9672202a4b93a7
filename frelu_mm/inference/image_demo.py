"""Predictions of one model, or two side by side, drawn on images (tools/image_demo.py)."""
import os.path as osp
from typing import List, Optional, Sequence

import mmcv

from .draw import draw_prediction, side_by_side
from .images import list_images
from .models import init_for_config, predict


def image_demo(images: str, config: str, checkpoint: str, out_dir: str, device: str = 'cpu',
               score_thr: float = 0.3, compare: Optional[Sequence[str]] = None,
               titles: Optional[Sequence[str]] = None, cfg_options: Optional[dict] = None,
               verbose: bool = True) -> List[str]:
    """Write ``<out_dir>/<image name>.png`` per image of ``images``; returns the files.

    Args:
        images (str): an image, a folder of images or a glob.
        compare (tuple[str, str], optional): ``(config, checkpoint)`` drawn beside.
        titles (list[str], optional): a title per model; the config names by default.
        cfg_options (dict, optional): config overrides for every model, as --cfg-options.
    """
    paths = list_images(images)
    runs = [(config, checkpoint)] + ([tuple(compare)] if compare else [])
    models = [init_for_config(cfg, ckpt, device, cfg_options) for cfg, ckpt in runs]
    titles = titles or [osp.splitext(osp.basename(cfg))[0] for cfg, _ in runs]
    written = []
    for i, path in enumerate(paths, 1):
        image = mmcv.imread(path, channel_order='rgb')
        pictures = [draw_prediction(model, scope, image, predict(model, scope, path), score_thr)
                    for model, scope in models]
        picture = side_by_side(pictures, titles) if len(pictures) > 1 else pictures[0]
        out = osp.join(out_dir, osp.splitext(osp.basename(path))[0] + '.png')
        mmcv.imwrite(picture[..., ::-1], out)  # RGB drawn, BGR written
        written.append(out)
        if verbose:
            print(f'[{i}/{len(paths)}] {out}', flush=True)
    return written
