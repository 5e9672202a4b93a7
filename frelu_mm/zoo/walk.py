"""Walk the hosts' configs: one record per config, backbones grouped by their dict."""
import json
import os.path as osp
from typing import Dict, List

from .configs import find_backbones, load_model_cfg
from .twins import family_of, has_twin, host_of

# keys that change where weights come from, not the network
WEIGHT_KEYS = ('init_cfg', 'pretrained')


def config_name(path: str, toolkit: str) -> str:
    """``mmdet::faster_rcnn/x.py`` for a shipped config path (as ``_base_`` names it)."""
    marker = osp.join('.mim', 'configs') + osp.sep
    return f'{toolkit}::{path.split(marker, 1)[-1]}'


def group_key(backbone: dict, toolkit: str) -> str:
    """One key for every backbone dict that builds the same network."""
    scope, name = host_of(backbone, toolkit)
    arch = {k: v for k, v in backbone.items() if k not in WEIGHT_KEYS and k != 'type'}
    return json.dumps([scope, name, arch], sort_keys=True, default=str)


def read_config(path: str, toolkit: str) -> dict:
    """One config's record: its name, whether it loads with a model, and its backbones
    (place, host type, family, group key; those without a twin are listed too)."""
    record = dict(config=config_name(path, toolkit), toolkit=toolkit, status='ok', error=None,
                  backbones=[])
    try:
        model = load_model_cfg(path)
    except Exception as e:  # a shipped config that does not load (a missing _base_, ...)
        record.update(status='load error', error=f'{type(e).__name__}: {str(e)[:200]}')
        return record
    if model is None:
        record['status'] = 'no model'
        return record
    for place, backbone in find_backbones(model):
        record['backbones'].append(dict(
            place=place, host='.'.join(host_of(backbone, toolkit)),
            family=family_of(backbone, toolkit),
            group=group_key(backbone, toolkit) if has_twin(backbone, toolkit) else None,
            cfg=backbone))
    return record


def group_backbones(records: List[dict]) -> Dict[str, dict]:
    """``{group key: (backbone dict, toolkit)}`` of the backbones with a twin, the first
    config's dict standing for the group."""
    groups = {}
    for record in records:
        for b in record['backbones']:
            if b['group'] is not None and b['group'] not in groups:
                groups[b['group']] = dict(backbone=b['cfg'], toolkit=record['toolkit'],
                                          host=b['host'], family=b['family'])
    return groups


def judge_configs(records: List[dict], results: Dict[str, dict]) -> None:
    """Mark each config accepted when every backbone with a twin passed its group's check."""
    for record in records:
        checked = [b for b in record['backbones'] if b['group'] is not None]
        failed = [(b, results[b['group']]) for b in checked if not results[b['group']]['accepted']]
        record['with_twin'] = bool(checked)
        record['accepted'] = bool(checked) and not failed
        record['reason'] = '; '.join(f'{b["place"]} ({b["host"]}): {r["reason"]}'
                                     for b, r in failed) or None
