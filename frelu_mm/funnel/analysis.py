"""``tools/funnel_analysis.py``: funnel statistics and pictures of a checkpoint on images,
optionally beside its ReLU twin."""
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import List, Optional, Sequence

import torch.nn.functional as F

from .stats import FunnelCollector

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def expand_images(paths: Sequence[str]) -> List[str]:
    """Files as given; a folder gives its images, sorted."""
    out = []
    for p in paths:
        if osp.isdir(p):
            out += sorted(osp.join(p, f) for f in os.listdir(p) if f.lower().endswith(IMAGE_EXTS))
        elif osp.isfile(p):
            out.append(p)
        else:
            raise FileNotFoundError(f'image {p!r} not found')
    if not out:
        raise ValueError(f'no images in {list(paths)}')
    return out


def full_size_maps(collector: FunnelCollector, input_shape, image_shape) -> 'OrderedDict':
    """Each stage's map upsampled to the network input, cropped to the image
    (padding is at the bottom and right), as numpy ``(H, W)``."""
    out = OrderedDict()
    for stage, m in collector.stage_maps().items():
        m = F.interpolate(m[:1, None].float(), size=tuple(input_shape[-2:]), mode='bilinear',
                          align_corners=False)[0, 0]
        out[stage] = m[:image_shape[0], :image_shape[1]].clamp(0, 1).cpu().numpy()
    return out


class ModelFunnel:
    """A loaded model, its test pipeline and a collector with maps.

    Args:
        config (str): config file.
        checkpoint (str): its checkpoint.
        kind (str): ``'auto'``, ``'frelu'`` or ``'relu'``.
        names (Sequence[str] | None): measure these module paths (a twin's sites).
        cfg_options (dict | None): ``--cfg-options``.
        device (str): where to run.
    """

    def __init__(self, config: str, checkpoint: str, kind: str = 'auto',
                 names: Optional[Sequence[str]] = None, cfg_options: Optional[dict] = None,
                 device: str = 'cpu'):
        from .inference import load_model, test_pipeline
        self.config, self.checkpoint = config, checkpoint
        self.model, self.cfg = load_model(config, checkpoint, cfg_options, device)
        self.pipeline = test_pipeline(self.cfg)
        self.collector = FunnelCollector(self.model, kind, names, maps=True)
        if names is not None and not self.collector.sites:  # another layout: its own sites
            self.collector = FunnelCollector(self.model, kind, maps=True)
        if not self.collector.sites:
            raise ValueError(f'{config}: no FReLU or ReLU module to measure')
        self.per_image = []

    @property
    def label(self) -> str:
        from .draw import label_of
        return f'{label_of(self.collector.kind)}: {osp.splitext(osp.basename(self.config))[0]}'

    def run(self, path: str):
        """One image: returns (RGB image, {stage: (map, share)}); counts add up."""
        from .inference import prepare_image, run_tensor_mode
        inputs, image, batch = prepare_image(self.model, self.pipeline, path)
        before = self.collector.counts()
        self.collector.clear_maps()
        with self.collector:
            run_tensor_mode(self.model, batch)
        after = self.collector.counts()
        stages = self.collector.stage_stats(counts={n: after[n] - before[n] for n in after})
        self.per_image.append(dict(image=path, stages={s: v['share'] for s, v in stages.items()}))
        maps = full_size_maps(self.collector, inputs.shape, image.shape)
        return image, OrderedDict((s, (m, stages[s]['share'])) for s, m in maps.items())

    def summary(self) -> dict:
        return dict(config=self.config, checkpoint=self.checkpoint, kind=self.collector.kind,
                    layers=self.collector.layer_stats(),
                    stages=self.collector.stage_stats(), per_image=self.per_image)


def funnel_analysis(config: str, checkpoint: str, images: Sequence[str], out_dir: str,
                    compare: Optional[Sequence[str]] = None, kind: str = 'auto',
                    cfg_options: Optional[dict] = None, device: str = 'cpu') -> dict:
    """Measure a checkpoint's funnel on ``images`` and draw it.

    Writes in ``out_dir``: ``funnel.json`` (``{"layers": [{"name", "stage", "kind",
    "share", "margin"}, ...], "stages": {stage: {"share", "margin", "layers"}},
    "per_image": [...], "compare": {the same for the twin}}``), ``funnel_layers.png``
    (share per layer, the twin's beside it) and ``funnel_<i>_<image>.png`` per image
    (one panel per stage, the twin's row below).

    Args:
        config (str): config file.
        checkpoint (str): its checkpoint.
        images (Sequence[str]): image files or folders.
        out_dir (str): output folder.
        compare (Sequence[str] | None): ``(config, checkpoint)`` of the twin, measured
            at the model's site paths (all its ReLUs/FReLUs if none match).
        kind (str): the sites of the model: ``'auto'``, ``'frelu'`` or ``'relu'``.
        cfg_options (dict | None): ``--cfg-options``, for both models.
        device (str): where to run.

    Returns:
        dict: the content of ``funnel.json``, with ``files`` (the pictures written).
    """
    from ..evaluation.atomic import atomic_write
    from .draw import layer_chart, overlay_figure
    paths = expand_images(images)
    main = ModelFunnel(config, checkpoint, kind, cfg_options=cfg_options, device=device)
    twin = None
    if compare is not None:
        twin = ModelFunnel(compare[0], compare[1], names=list(main.collector.sites),
                           cfg_options=cfg_options, device=device)
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for i, path in enumerate(paths):
        image, maps = main.run(path)
        rows = [(main.label, maps)]
        if twin is not None:
            rows.append((twin.label, twin.run(path)[1]))
        stem = osp.splitext(osp.basename(path))[0]
        files.append(overlay_figure(
            image, rows, osp.join(out_dir, f'funnel_{i:02d}_{stem}.png'),
            title=osp.basename(path)))
    result = main.summary()
    if twin is not None:
        result['compare'] = twin.summary()
    kinds = (main.collector.kind, twin.collector.kind if twin else None)
    shares = [{s: v['share'] for s, v in r['stages'].items()}
              for r in (result, result.get('compare')) if r is not None]
    title = f'Where the condition wins, per layer ({len(paths)} image{"s" * (len(paths) > 1)})'
    files.insert(0, layer_chart(result['layers'], osp.join(out_dir, 'funnel_layers.png'),
                                twin=result['compare']['layers'] if twin else None,
                                kinds=kinds, title=title, stage_shares=shares))
    atomic_write(osp.join(out_dir, 'funnel.json'), json.dumps(result, indent=2))
    return dict(result, files=files)
