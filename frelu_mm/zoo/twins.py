"""Which frelu_mm backbone is the twin of which host backbone, and the swap itself."""
import copy
from typing import Optional

from .configs import split_scope

# (scope, host type) -> (twin type, host defaults the twin does not share)
TWINS = {
    ('mmdet', 'ResNet'): ('ActResNet', {}),
    ('mmdet', 'ResNeXt'): ('ActResNeXt', {}),
    ('mmdet', 'RegNet'): ('ActRegNet', {}),
    ('mmdet', 'HRNet'): ('ActHRNet', {}),
    ('mmseg', 'ResNet'): ('ActResNetV1b', {}),
    ('mmseg', 'ResNetV1c'): ('ActResNetV1c', {}),
    ('mmseg', 'ResNetV1d'): ('ActResNetV1d', {}),
    ('mmseg', 'ResNeXt'): ('ActSegResNeXt', {}),
    ('mmseg', 'HRNet'): ('ActSegHRNet', {}),
    # mmpretrain's ResNet (mmdet's re-id configs) is mmdet's with other defaults
    ('mmpretrain', 'ResNet'): ('ActResNet', dict(stem_channels=64, out_indices=(3, ),
                                                 norm_eval=False)),
}
FAMILIES = {'ResNet': 'ResNet', 'ResNetV1c': 'ResNet', 'ResNetV1d': 'ResNet',
            'ResNeXt': 'ResNeXt', 'RegNet': 'RegNet', 'HRNet': 'HRNet'}
# mmpretrain ResNet arguments mmdet's ResNet lacks; the twin refuses them when set
PRETRAIN_ONLY = ('expansion', 'drop_path_rate')


def host_of(backbone: dict, toolkit: str):
    """``(scope, type)`` of a backbone dict in a ``toolkit`` config."""
    return split_scope(backbone['type'], toolkit)


def has_twin(backbone: dict, toolkit: str) -> bool:
    """Whether frelu_mm has a twin for this backbone."""
    return host_of(backbone, toolkit) in TWINS


def family_of(backbone: dict, toolkit: str) -> Optional[str]:
    """The backbone family (ResNet, ResNeXt, RegNet, HRNet) of a backbone with a twin."""
    scope, name = host_of(backbone, toolkit)
    return FAMILIES.get(name) if (scope, name) in TWINS else None


def twin_backbone(backbone: dict, toolkit: str, act_cfg: Optional[dict]) -> dict:
    """The twin's dict for a host backbone dict: the same arguments, the twin's type
    and ``act_cfg`` (None: the twin's default ReLU, i.e. the host network).

    Args:
        backbone (dict): the host backbone dict from a config.
        toolkit (str): the config's toolkit (its default scope).
        act_cfg (dict | None): the activation at the twin's default sites and stages.
    """
    host = host_of(backbone, toolkit)
    if host not in TWINS:
        raise KeyError(f'no twin for {host[0]}.{host[1]}; twins exist for '
                       f'{sorted(".".join(k) for k in TWINS)}')
    twin_type, defaults = TWINS[host]
    refused = [k for k in PRETRAIN_ONLY if backbone.get(k)] if host[0] == 'mmpretrain' else []
    if refused:
        raise ValueError(f'{host[0]}.{host[1]} with {refused} has no twin ({twin_type} lacks them)')
    cfg = {**defaults, **copy.deepcopy(backbone), 'type': twin_type}
    for key in PRETRAIN_ONLY:
        cfg.pop(key, None)
    if act_cfg is not None:
        cfg['act_cfg'] = copy.deepcopy(act_cfg)
    return cfg
