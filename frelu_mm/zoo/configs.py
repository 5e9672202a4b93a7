"""The configs mmdet and mmseg ship, and the backbone dicts inside them."""
import glob
import importlib
import os.path as osp
from typing import Iterator, List, Optional, Tuple

from mmengine.config import Config

TOOLKITS = ('mmdet', 'mmseg')


def shipped_configs(toolkit: str) -> List[str]:
    """Every config file the installed ``toolkit`` ships (its ``.mim/configs``), without
    the ``_base_`` fragments, sorted."""
    package = osp.dirname(importlib.import_module(toolkit).__file__)
    root = osp.join(package, '.mim', 'configs')
    paths = glob.glob(osp.join(root, '**', '*.py'), recursive=True)
    return sorted(p for p in paths if '_base_' not in p.split(osp.sep))


def load_model_cfg(path: str) -> Optional[dict]:
    """The ``model`` dict of a config (None when it has none); custom imports are not run."""
    cfg = Config.fromfile(path, import_custom_modules=False)
    model = cfg.get('model')
    return None if model is None else model.to_dict()


def find_backbones(node, where: str = 'model') -> Iterator[Tuple[str, dict]]:
    """Yield ``(place, dict)`` of every ``backbone`` dict below a model dict (a detector's,
    a teacher's or student's, ...)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'backbone' and isinstance(value, dict) and 'type' in value:
                yield f'{where}.{key}', value
            else:
                yield from find_backbones(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from find_backbones(value, f'{where}[{i}]')


def split_scope(backbone_type, toolkit: str) -> Tuple[str, str]:
    """``('mmdet', 'ResNet')`` from ``'mmdet.ResNet'`` or from ``'ResNet'`` in an mmdet config."""
    if not isinstance(backbone_type, str):
        return toolkit, getattr(backbone_type, '__name__', str(backbone_type))
    if '.' in backbone_type:
        scope, name = backbone_type.split('.', 1)
        return scope, name
    return toolkit, backbone_type
